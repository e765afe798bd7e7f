namespace Heorot.Scheduling.Timeline;

/// <summary>
/// The Gantt chart of resources × time that every policy plans against: one fit function answers "can it run
/// now", "when and where can it run" and "can it ever run" (Slurm's select plugin has the same shape).
/// <typeparamref name="TDemand"/> is what a job asks for; <typeparamref name="TAlloc"/> the concrete resources it
/// was given. Implementations: <see cref="PoolGantt"/> (interchangeable processors, as in workload traces) and
/// <c>NodeGantt</c> (hierarchical nodes with cores, memory, GPUs and properties).
/// </summary>
public interface IGantt<TDemand, TAlloc>
{
    /// <summary>Forgets everything that ended at or before <paramref name="now"/>.</summary>
    void Archive(long now);

    /// <summary>The earliest start at or after <paramref name="notBefore"/>; false when the demand can never fit.</summary>
    bool TryEarliest(in TDemand demand, long notBefore, long duration, out long start, out TAlloc alloc);

    /// <summary>Whether the demand fits during <c>[start, start + duration)</c>, and where.</summary>
    bool TryAt(in TDemand demand, long start, long duration, out TAlloc alloc);

    /// <summary>Whether exactly these resources are free during <c>[start, start + duration)</c>.</summary>
    bool AllocFits(in TAlloc alloc, long start, long duration);

    /// <summary>Takes the allocated resources over <c>[start, end)</c>.</summary>
    void Reserve(in TAlloc alloc, long start, long end);

    /// <summary>Gives back a slot taken by <see cref="Reserve"/> with the same arguments (its exact inverse).</summary>
    void Release(in TAlloc alloc, long start, long end);

    /// <summary>A job of slot <c>[.., end)</c> ended early at <paramref name="from"/>: frees the unused tail (keeping any gap after the job).</summary>
    void ReleaseTail(in TAlloc alloc, long from, long end);

    /// <summary>Whether enough resources are free at the instant <paramref name="now"/> (ignoring the future).</summary>
    bool FreeAtCovers(in TDemand demand, long now);

    /// <summary>A one-line reason why the demand cannot start at <paramref name="now"/>, for explain records.</summary>
    string DescribeWait(in TDemand demand, long now, long duration);
}
