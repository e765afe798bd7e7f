using Heorot.Simulation.Workloads;

namespace Heorot.Tests.Simulation.Workloads;

public class LublinFeitelsonModelTests
{
    private const int MachineProcs = 128; // the machine size the published batch parameters were fitted on
    private const int LargeCount = 20_000;
    private static readonly LublinFeitelsonOptions Batch = LublinFeitelsonOptions.Batch;
    private static readonly IReadOnlyList<GeneratedJob> Large = LublinFeitelsonModel.Generate(LargeCount, MachineProcs, 2003);

    [Fact]
    public void Generate_SameSeed_IdenticalJobs()
    {
        var a = LublinFeitelsonModel.Generate(2_000, MachineProcs, 42);
        var b = LublinFeitelsonModel.Generate(2_000, MachineProcs, 42);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Generate_DifferentSeed_DifferentJobs()
    {
        var a = LublinFeitelsonModel.Generate(2_000, MachineProcs, 42);
        var b = LublinFeitelsonModel.Generate(2_000, MachineProcs, 43);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Generate_ZeroJobs_Empty()
    {
        Assert.Empty(LublinFeitelsonModel.Generate(0, MachineProcs, 1));
    }

    [Fact]
    public void Generate_InvalidMachine_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LublinFeitelsonModel.Generate(10, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LublinFeitelsonModel.Generate(-1, 8, 1));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(100)]
    [InlineData(128)]
    [InlineData(1000)]
    public void Generate_AnyMachine_InvariantsHold(int machineProcs)
    {
        var jobs = LublinFeitelsonModel.Generate(3_000, machineProcs, 7);
        Assert.Equal(0, jobs[0].Submit);
        for (int i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            Assert.Equal(i + 1, job.Id);
            if (i > 0)
            {
                Assert.True(job.Submit >= jobs[i - 1].Submit, $"submit not ascending at job {job.Id}");
            }

            Assert.InRange(job.RunTime, 1, (long)Math.Ceiling(Math.Exp(Batch.MaxLogRunTime)));
            Assert.InRange(job.Procs, 1, machineProcs);
            Assert.True(job.RequestedTime >= job.RunTime, $"requested < run at job {job.Id}");
            Assert.True(
                LublinFeitelsonModel.PopularRequestTimes.Contains(job.RequestedTime) || job.RequestedTime % 3_600 == 0,
                $"requested {job.RequestedTime} is neither popular nor whole hours");
            Assert.InRange(job.User, 1, Batch.Users);
        }
    }

    [Fact]
    public void Generate_LargeSample_SerialFractionNearParameter()
    {
        // Binomial standard deviation sqrt(0.29 * 0.71 / 20000) ≈ 0.0032: ±0.015 is about 4.7 sigma.
        double serial = Large.Count(j => j.Procs == 1) / (double)LargeCount;
        Assert.InRange(serial, Batch.SerialProbability - 0.015, Batch.SerialProbability + 0.015);
    }

    [Fact]
    public void Generate_LargeSample_PowerOfTwoFractionAmongParallelNearModel()
    {
        // Among parallel jobs, the power-of-two branch has probability pow2 / (1 - serial); the other
        // branch, round(2^U), also lands on a power of two with probability q computed exactly from
        // the two-stage uniform U on [1.2, 5] (0.875) and [5, 7] (0.125) for 128 processors.
        double q = 0.0;
        for (int k = 1; k <= 7; k++)
        {
            double from = Math.Log2(Math.Pow(2, k) - 0.5);
            double to = Math.Min(Math.Log2(Math.Pow(2, k) + 0.5), 7.0);
            q += TwoStageCdf(to) - TwoStageCdf(from);
        }

        double parallelShare = 1.0 - Batch.SerialProbability;
        double expected = (Batch.PowerOfTwoProbability + ((parallelShare - Batch.PowerOfTwoProbability) * q)) / parallelShare;
        var parallel = Large.Where(j => j.Procs > 1).ToList();
        double observed = parallel.Count(j => (j.Procs & (j.Procs - 1)) == 0) / (double)parallel.Count;

        // About 14 000 parallel jobs: sigma ≈ 0.002, ±0.01 is about 5 sigma.
        Assert.InRange(observed, expected - 0.01, expected + 0.01);
        Assert.True(observed >= Batch.PowerOfTwoProbability / parallelShare - 0.01);

        static double TwoStageCdf(double x)
        {
            const double Low = 1.2, Med = 5.0, High = 7.0, First = 0.875;
            return x <= Low ? 0.0
                : x <= Med ? First * (x - Low) / (Med - Low)
                : x <= High ? First + ((1 - First) * (x - Med) / (High - Med))
                : 1.0;
        }
    }

    [Fact]
    public void Generate_LargeSample_MedianRunTimeBetweenTheTwoGammaComponents()
    {
        // ln(run) mixes Gamma(6.57, 0.823) (median ≈ 5.13, e^5.13 ≈ 170 s) and Gamma(639.1, 0.0156)
        // (median ≈ 9.97, ≈ 6 h). For 128 processors p = 0.6986 - 0.003 n stays above 0.5 for n < 66,
        // so the overall median lies in the upper part of the short component: well above 170 s and
        // well below the long component's ≈ 6 h.
        var runs = Large.Select(j => j.RunTime).Order().ToArray();
        long median = runs[runs.Length / 2];
        Assert.InRange(median, 200, 3 * 3_600);

        // The long component is visible: a sizeable share of jobs run for more than an hour.
        double overHour = runs.Count(r => r > 3_600) / (double)runs.Length;
        Assert.InRange(overHour, 0.15, 0.6);
    }

    [Fact]
    public void Generate_LargeSample_LargerJobsRunLonger()
    {
        // pa < 0: the long gamma is more likely for wider jobs.
        double smallMean = Large.Where(j => j.Procs <= 2).Average(j => Math.Log(j.RunTime));
        double wideMean = Large.Where(j => j.Procs >= 32).Average(j => Math.Log(j.RunTime));
        Assert.True(wideMean > smallMean, $"ln-run of wide jobs {wideMean:F2} not above narrow {smallMean:F2}");
    }

    [Fact]
    public void Generate_LargeSample_DailyCycleHasDaytimePeak()
    {
        var byHour = new int[24];
        foreach (var job in Large)
        {
            byHour[(int)(job.Submit % 86_400 / 3_600)]++;
        }

        int day = byHour[9..17].Sum();   // 09:00-17:00
        int night = byHour[0..8].Sum();  // 00:00-08:00, around the model's 05:00 trough
        Assert.True(day > 2 * night, $"day {day} vs night {night}");
    }

    [Fact]
    public void Generate_LargeSample_UsersAreZipfLike()
    {
        // P(user 1) = 1 / H(32) ≈ 0.246 for exponent 1 and 32 users.
        double harmonic = Enumerable.Range(1, Batch.Users).Sum(k => 1.0 / k);
        double first = Large.Count(j => j.User == 1) / (double)LargeCount;
        Assert.InRange(first, (1 / harmonic) - 0.02, (1 / harmonic) + 0.02);
        Assert.True(Large.Count(j => j.User == 1) > Large.Count(j => j.User == 2));
        Assert.True(Large.Count(j => j.User == 2) > Large.Count(j => j.User == Batch.Users));
    }

    [Fact]
    public void Generate_HalfInterArrivalScale_RoughlyHalvesTheSpan()
    {
        var normal = LublinFeitelsonModel.Generate(2_000, MachineProcs, 11);
        var dense = LublinFeitelsonModel.Generate(2_000, MachineProcs, 11, Batch with { InterArrivalScale = 0.5 });

        // Same seed, same draws: only the gaps shrink, so sizes and runtimes are unchanged.
        Assert.Equal(normal.Select(j => (j.Procs, j.RunTime)), dense.Select(j => (j.Procs, j.RunTime)));
        double ratio = dense[^1].Submit / (double)normal[^1].Submit;
        Assert.InRange(ratio, 0.4, 0.6);
    }
}
