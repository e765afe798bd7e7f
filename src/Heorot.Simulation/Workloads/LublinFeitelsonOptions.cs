namespace Heorot.Simulation.Workloads;

/// <summary>
/// Parameters of the Lublin–Feitelson rigid-job model (JPDC 63(11), 2003). The defaults are the
/// published values for <em>batch</em> jobs, fitted on a 128-node machine; see docs/workload-model.md.
/// The user population and the requested-time rule are Heorot additions, not part of the model.
/// </summary>
public sealed record LublinFeitelsonOptions
{
    /// <summary>The published batch parameters.</summary>
    public static LublinFeitelsonOptions Batch { get; } = new();

    // --- Job size -------------------------------------------------------------------------

    /// <summary>Probability that a job is serial (1 processor).</summary>
    public double SerialProbability { get; init; } = 0.2927;

    /// <summary>Probability (over all jobs) that a job takes the power-of-two branch.</summary>
    public double PowerOfTwoProbability { get; init; } = 0.6686;

    /// <summary>Lower bound of the two-stage uniform on log2(size) of parallel jobs.</summary>
    public double ULow { get; init; } = 1.2;

    /// <summary>
    /// Distance between the upper bound (log2 of the machine size) and the break point UMed of the
    /// two-stage uniform. The published batch fit has UMed = 5 for UHi = 7, hence 2.
    /// </summary>
    public double UMedBelowUHi { get; init; } = 2.0;

    /// <summary>Probability of the first stage, uniform on [ULow, UMed].</summary>
    public double UProbability { get; init; } = 0.875;

    // --- Runtime: ln(runtime) is hyper-gamma, p = PA * procs + PB ---------------------------

    /// <summary>Shape of the first (short) gamma of ln(runtime).</summary>
    public double A1 { get; init; } = 6.57;

    /// <summary>Scale of the first (short) gamma of ln(runtime).</summary>
    public double B1 { get; init; } = 0.823;

    /// <summary>Shape of the second (long) gamma of ln(runtime).</summary>
    public double A2 { get; init; } = 639.1;

    /// <summary>Scale of the second (long) gamma of ln(runtime).</summary>
    public double B2 { get; init; } = 0.0156;

    /// <summary>Slope of the mixing probability in the job size.</summary>
    public double PA { get; init; } = -0.003;

    /// <summary>Intercept of the mixing probability.</summary>
    public double PB { get; init; } = 0.6986;

    /// <summary>ln(runtime) samples above this are redrawn (e^12 s ≈ 45 h).</summary>
    public double MaxLogRunTime { get; init; } = 12.0;

    // --- Arrivals ------------------------------------------------------------------------

    /// <summary>Shape of the gamma of ln(inter-arrival) at peak hours.</summary>
    public double AArr { get; init; } = 6.0415;

    /// <summary>Scale of the gamma of ln(inter-arrival) at peak hours.</summary>
    public double BArr { get; init; } = 0.8531;

    /// <summary>Rush-to-all-day ratio applied to <see cref="AArr"/>.</summary>
    public double ARar { get; init; } = 1.0519;

    /// <summary>Shape of the gamma giving the daily cycle (in half-hour slots).</summary>
    public double ANum { get; init; } = 6.1271;

    /// <summary>Scale of the gamma giving the daily cycle (in half-hour slots).</summary>
    public double BNum { get; init; } = 5.2740;

    /// <summary>ln(inter-arrival) samples above this are redrawn (e^13 s ≈ 5 days).</summary>
    public double MaxLogInterArrival { get; init; } = 13.0;

    // --- Heorot additions ------------------------------------------------------------------

    /// <summary>
    /// Multiplies every inter-arrival gap (1 = the published model). Below 1 compresses the
    /// arrivals and raises the offered load; the daily cycle is kept.
    /// </summary>
    public double InterArrivalScale { get; init; } = 1.0;

    /// <summary>Number of users; user k (1-based) is drawn with probability proportional to 1/k^s.</summary>
    public int Users { get; init; } = 32;

    /// <summary>Zipf exponent s of the user population.</summary>
    public double UserZipfExponent { get; init; } = 1.0;

    /// <summary>
    /// Users overestimate: requested = round-up-to-popular(run × f), f log-uniform on [1, this].
    /// </summary>
    public double MaxEstimateFactor { get; init; } = 4.0;
}
