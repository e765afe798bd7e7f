namespace Heorot.Simulation.Workloads;

/// <summary>
/// Gamma and normal variates from a caller-owned (seeded) <see cref="Random"/>.
/// Gamma uses Marsaglia &amp; Tsang, "A simple method for generating gamma variables" (ACM TOMS 26(3), 2000).
/// </summary>
internal static class GammaSampler
{
    /// <summary>A Gamma(shape, scale) variate: mean shape × scale.</summary>
    public static double Sample(Random random, double shape, double scale)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shape);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(scale);
        if (shape < 1.0)
        {
            // Boost: Gamma(a) = Gamma(a + 1) × U^(1/a).
            double boosted = Sample(random, shape + 1.0, 1.0);
            return scale * boosted * Math.Pow(OpenUnit(random), 1.0 / shape);
        }

        double d = shape - (1.0 / 3.0);
        double c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x = StandardNormal(random);
            double t = 1.0 + (c * x);
            if (t <= 0.0)
            {
                continue;
            }

            double v = t * t * t;
            double u = OpenUnit(random);
            double x2 = x * x;
            if (u < 1.0 - (0.0331 * x2 * x2))
            {
                return scale * d * v;
            }

            if (Math.Log(u) < (0.5 * x2) + (d * (1.0 - v + Math.Log(v))))
            {
                return scale * d * v;
            }
        }
    }

    /// <summary>A standard normal variate (Box–Muller, one of the pair).</summary>
    public static double StandardNormal(Random random)
    {
        double u1 = OpenUnit(random);
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A uniform variate on (0, 1], safe for logarithms and negative powers.</summary>
    public static double OpenUnit(Random random) => 1.0 - random.NextDouble();
}
