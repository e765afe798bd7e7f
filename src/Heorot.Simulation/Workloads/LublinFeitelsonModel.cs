namespace Heorot.Simulation.Workloads;

/// <summary>One synthetic job; times are in seconds from the start of the workload.</summary>
public sealed record GeneratedJob(long Id, long Submit, long RunTime, int Procs, long RequestedTime, int User);

/// <summary>
/// Synthetic rigid-job workloads from U. Lublin and D. G. Feitelson, "The workload on parallel
/// supercomputers: modeling the characteristics of rigid jobs", JPDC 63(11), 2003, batch-job
/// parameters by default. Requested times and users are Heorot additions (docs/workload-model.md).
/// Deterministic for a given seed.
/// </summary>
public static class LublinFeitelsonModel
{
    /// <summary>Half-hour slots per day used by the daily cycle.</summary>
    public const int SlotsPerDay = 48;

    /// <summary>Seconds in one slot of the daily cycle.</summary>
    public const int SecondsPerSlot = 86_400 / SlotsPerDay;

    /// <summary>"Popular" requested times (seconds): 5, 15, 30 min, 1, 2, 4, 8, 12, 18, 24, 36 h.</summary>
    public static IReadOnlyList<long> PopularRequestTimes { get; } =
        [300, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 64_800, 86_400, 129_600];

    /// <summary>Generates <paramref name="jobs"/> jobs for a machine of <paramref name="machineProcs"/> processors.</summary>
    public static IReadOnlyList<GeneratedJob> Generate(int jobs, int machineProcs, int seed, LublinFeitelsonOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(jobs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(machineProcs);
        var o = options ?? LublinFeitelsonOptions.Batch;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.Users);
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MaxEstimateFactor, 1.0);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.InterArrivalScale);

        var random = new Random(seed);
        double[] slotWeights = DailyCycleWeights(o.ANum, o.BNum);
        double[] userCdf = ZipfCdf(o.Users, o.UserZipfExponent);
        var result = new List<GeneratedJob>(jobs);
        double clockSlots = 0.0; // time since start, in slots (the start is midnight)

        for (int i = 0; i < jobs; i++)
        {
            if (i > 0)
            {
                clockSlots = NextArrival(random, clockSlots, slotWeights, o);
            }

            long submit = (long)Math.Floor(clockSlots * SecondsPerSlot);
            int procs = SampleProcs(random, machineProcs, o);
            long run = SampleRunTime(random, procs, o);
            long requested = RequestedTime(random, run, o.MaxEstimateFactor);
            int user = SampleUser(random, userCdf);
            result.Add(new GeneratedJob(i + 1, submit, run, procs, requested, user));
        }

        return result;
    }

    /// <summary>
    /// Relative arrival intensity of each half-hour slot of the clock day, normalised to mean 1.
    /// The model's day starts at 05:00 (its position 11, in half-hour units), and the share of slot
    /// at position x is the Gamma(anum, bnum) mass on [x − ½, x + ½].
    /// </summary>
    internal static double[] DailyCycleWeights(double shape, double scale)
    {
        var weights = new double[SlotsPerDay];
        for (int slot = 0; slot < SlotsPerDay; slot++)
        {
            int position = ((slot - 10 + SlotsPerDay) % SlotsPerDay) + 11;
            weights[slot] = GammaMass(position - 0.5, position + 0.5, shape, scale);
        }

        double mean = weights.Average();
        for (int slot = 0; slot < SlotsPerDay; slot++)
        {
            weights[slot] /= mean;
        }

        return weights;
    }

    // Unnormalised gamma mass on [from, to] by composite Simpson; the constant cancels in the normalisation.
    private static double GammaMass(double from, double to, double shape, double scale)
    {
        const int Intervals = 16;
        double h = (to - from) / Intervals;
        double sum = Density(from) + Density(to);
        for (int k = 1; k < Intervals; k++)
        {
            sum += (k % 2 == 1 ? 4.0 : 2.0) * Density(from + (k * h));
        }

        return sum * h / 3.0;

        double Density(double t) => t <= 0.0 ? 0.0 : Math.Exp(((shape - 1.0) * Math.Log(t)) - (t / scale));
    }

    /// <summary>
    /// Advances the clock by one inter-arrival: ln(gap) ~ Gamma(aarr × arar, barr) is the gap at
    /// intensity 1; it is spent as "points" through the slots, a slot of weight w costing w points,
    /// so busy slots are crossed slowly and receive more arrivals.
    /// </summary>
    private static double NextArrival(Random random, double clockSlots, double[] weights, LublinFeitelsonOptions o)
    {
        double logGap;
        do
        {
            logGap = GammaSampler.Sample(random, o.AArr * o.ARar, o.BArr);
        }
        while (logGap > o.MaxLogInterArrival);

        double points = Math.Exp(logGap) * o.InterArrivalScale / SecondsPerSlot;
        double position = clockSlots;
        while (true)
        {
            double slotStart = Math.Floor(position);
            double weight = weights[(int)((long)slotStart % SlotsPerDay)];
            double cost = weight * (slotStart + 1.0 - position);
            if (points <= cost)
            {
                return position + (points / weight);
            }

            points -= cost;
            position = slotStart + 1.0;
        }
    }

    /// <summary>Serial, power-of-two or other parallel size; log2 of a parallel size is two-stage uniform.</summary>
    internal static int SampleProcs(Random random, int machineProcs, LublinFeitelsonOptions o)
    {
        double u = random.NextDouble();
        if (machineProcs == 1 || u < o.SerialProbability)
        {
            return 1;
        }

        double high = Math.Log2(machineProcs);
        double low = Math.Min(o.ULow, high);
        double med = Math.Clamp(high - o.UMedBelowUHi, low, high);
        double log2Size = random.NextDouble() < o.UProbability
            ? low + ((med - low) * random.NextDouble())
            : med + ((high - med) * random.NextDouble());

        if (u < o.SerialProbability + o.PowerOfTwoProbability)
        {
            int exponent = (int)Math.Round(log2Size, MidpointRounding.AwayFromZero);
            int size = 1 << Math.Clamp(exponent, 0, 30);
            return size <= machineProcs ? size : 1 << (int)Math.Floor(high);
        }

        return Math.Clamp((int)Math.Round(Math.Pow(2.0, log2Size), MidpointRounding.AwayFromZero), 1, machineProcs);
    }

    /// <summary>ln(runtime) is hyper-gamma; the first (short) gamma is chosen with p = pa × procs + pb.</summary>
    internal static long SampleRunTime(Random random, int procs, LublinFeitelsonOptions o)
    {
        double p = Math.Clamp((o.PA * procs) + o.PB, 0.0, 1.0);
        double logRun;
        do
        {
            logRun = random.NextDouble() < p
                ? GammaSampler.Sample(random, o.A1, o.B1)
                : GammaSampler.Sample(random, o.A2, o.B2);
        }
        while (logRun > o.MaxLogRunTime);

        return Math.Max(1L, (long)Math.Round(Math.Exp(logRun)));
    }

    /// <summary>
    /// Heorot's rule: run × f with f log-uniform on [1, maxFactor], rounded up to the next popular
    /// value (<see cref="PopularRequestTimes"/>), or to the next whole hour beyond 36 h.
    /// </summary>
    internal static long RequestedTime(Random random, long run, double maxFactor)
    {
        double factor = Math.Exp(random.NextDouble() * Math.Log(maxFactor));
        long target = Math.Max(run, (long)Math.Ceiling(run * factor));
        foreach (long popular in PopularRequestTimes)
        {
            if (popular >= target)
            {
                return popular;
            }
        }

        return (target + 3_599) / 3_600 * 3_600;
    }

    private static double[] ZipfCdf(int users, double exponent)
    {
        var cdf = new double[users];
        double total = 0.0;
        for (int k = 0; k < users; k++)
        {
            total += 1.0 / Math.Pow(k + 1, exponent);
            cdf[k] = total;
        }

        for (int k = 0; k < users; k++)
        {
            cdf[k] /= total;
        }

        return cdf;
    }

    private static int SampleUser(Random random, double[] cdf)
    {
        double u = random.NextDouble();
        int index = Array.BinarySearch(cdf, u);
        index = index >= 0 ? index : ~index;
        return Math.Min(index, cdf.Length - 1) + 1;
    }
}
