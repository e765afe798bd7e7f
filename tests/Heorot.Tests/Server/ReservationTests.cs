using System.Net;
using System.Net.Http.Json;
using Heorot.Protocol;

namespace Heorot.Tests.Server;

/// <summary>Advance reservations (OAR's -r) end to end: accepted on set-aside nodes, started at their time, never overlapped.</summary>
public sealed class ReservationTests
{
    [Fact]
    public async Task Reservation_StartsAtItsTimeOnItsNodes_OverlapRefused_LongJobsWaitAroundIt()
    {
        await using var cluster = await TestCluster.StartAsync();
        var start = DateTimeOffset.UtcNow.AddSeconds(4);
        var ids = await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest
        {
            Args = ["-l", "/nodes=3,walltime=0:00:03"],
            Script = "#!/bin/sh\necho reserved on $HEOROT_NODES\n",
            WorkingDirectory = "/tmp",
            ReservationStart = start,
        });
        var reserved = await cluster.JobAsync(ids[0]);
        Assert.Equal("Waiting", reserved.State);
        Assert.Equal(3, reserved.Nodes.Count);
        Assert.NotNull(reserved.ReservationStart);

        // A second reservation over the same window finds nothing free.
        using var client = cluster.Client(TestCluster.Bob);
        using (var overlap = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest { Args = ["-l", "/nodes=1,walltime=0:00:03"], Script = "true", ReservationStart = start.AddSeconds(1) }, WireJson.Options, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Conflict, overlap.StatusCode);
            Assert.Contains("reservation_refused", await overlap.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }

        // A one-hour job cannot finish before the reservation: it waits until the reservation has ended.
        var longJob = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 1\n", "-l", "/nodes=1,walltime=1:00:00");
        var done = await cluster.WaitForStateAsync(ids[0], TimeSpan.FromSeconds(60), "Terminated", "Error");
        Assert.Equal("Terminated", done.State);
        Assert.True(done.StartTime >= start.AddMilliseconds(-1), $"started {done.StartTime:O} before {start:O}");
        var after = await cluster.WaitForStateAsync(longJob, TimeSpan.FromSeconds(60), "Running", "Terminated");
        Assert.True(after.StartTime >= done.EndTime!.Value.AddSeconds(-1), $"the long job started {after.StartTime:O}, before the reservation ended {done.EndTime:O}");
    }
}
