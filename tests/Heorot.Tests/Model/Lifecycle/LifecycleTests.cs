using Heorot.Model.Lifecycle;
using Heorot.Tests.Support;

namespace Heorot.Tests.Model.Lifecycle;

public class LifecycleTests
{
    [Fact]
    public void Fire_IllegalJobTransition_ThrowsTypedErrorWithStableCode()
    {
        var e = Assert.Throws<IllegalTransitionException>(() => JobLifecycle.Table.Fire(JobState.Terminated, JobTrigger.Cancel));

        Assert.Equal("illegal_transition", IllegalTransitionException.Code);
        Assert.Equal("job: cannot 'Cancel' from state Terminated", e.Message);
    }

    [Fact]
    public void Fire_PrologFailure_RequeuesTheJobAndSuspectsTheNode()
    {
        Assert.Equal(JobState.Waiting, JobLifecycle.Table.Fire(JobState.Launching, JobTrigger.PrologFailed));
        Assert.Equal(NodeState.Suspected, NodeLifecycle.Table.Fire(NodeState.Alive, NodeTrigger.PrologFailed));
    }

    [Fact]
    public void Tables_EveryStateReachableFromTheStart_TerminalStatesAreTheEnds()
    {
        Assert.Equal(Enum.GetValues<JobState>().Order(), Reachable(JobLifecycle.Table, JobState.Waiting).Order());
        Assert.Equal([JobState.Terminated, JobState.Error, JobState.Cancelled], JobLifecycle.Table.Terminal().Order());
        Assert.Equal(Enum.GetValues<NodeState>().Order(), Reachable(NodeLifecycle.Table, NodeState.Alive).Order());
        Assert.Empty(NodeLifecycle.Table.Terminal()); // every node state has a way back
        Assert.Equal(Enum.GetValues<NodePowerState>().Order(), Reachable(PowerLifecycle.Table, NodePowerState.Off).Order());
        Assert.Empty(PowerLifecycle.Table.Terminal());
        Assert.Equal(Enum.GetValues<SimulatedPowerState>().Order(), Reachable(SimulatedPowerLifecycle.Table, SimulatedPowerState.Idle).Order());
        Assert.Empty(SimulatedPowerLifecycle.Table.Terminal());
    }

    [Fact]
    public void Fire_PowerOffABootingOrBusyNode_IllegalTransition()
    {
        Assert.Throws<IllegalTransitionException>(() => SimulatedPowerLifecycle.Table.Fire(SimulatedPowerState.Booting, SimulatedPowerTrigger.PowerOff));
        Assert.Throws<IllegalTransitionException>(() => SimulatedPowerLifecycle.Table.Fire(SimulatedPowerState.Busy, SimulatedPowerTrigger.PowerOff));
        Assert.Equal(SimulatedPowerState.Booting, SimulatedPowerLifecycle.Table.Fire(SimulatedPowerState.Off, SimulatedPowerTrigger.Allocate));
    }

    [Fact]
    public void Docs_StateTablesMarkdown_IsTheRenderedTables()
    {
        // docs/state-tables.md is generated from the tables; this fails when one changes without the other.
        var doc = File.ReadAllText(Path.Combine(SharedFiles.RepositoryRoot, "docs", "state-tables.md"));

        Assert.Contains(JobLifecycle.Table.ToMarkdown(), doc, StringComparison.Ordinal);
        Assert.Contains(NodeLifecycle.Table.ToMarkdown(), doc, StringComparison.Ordinal);
        Assert.Contains(PowerLifecycle.Table.ToMarkdown(), doc, StringComparison.Ordinal);
        Assert.Contains(SimulatedPowerLifecycle.Table.ToMarkdown(), doc, StringComparison.Ordinal);
    }

    private static HashSet<TState> Reachable<TState, TTrigger>(TransitionTable<TState, TTrigger> table, TState start)
        where TState : struct, Enum
        where TTrigger : struct, Enum
    {
        var seen = new HashSet<TState> { start };
        var frontier = new Queue<TState>([start]);
        while (frontier.TryDequeue(out var s))
        {
            foreach (var row in table.Rows.Where(r => EqualityComparer<TState>.Default.Equals(r.From, s)))
            {
                if (seen.Add(row.To))
                {
                    frontier.Enqueue(row.To);
                }
            }
        }

        return seen;
    }
}
