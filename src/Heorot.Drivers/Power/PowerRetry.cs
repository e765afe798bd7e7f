namespace Heorot.Drivers.Power;

/// <summary>
/// The bounded retry every power driver uses around one BMC call: transient <see cref="PowerException"/>s are
/// retried with exponential backoff up to <see cref="Attempts"/> calls; anything else, or the last failure,
/// propagates. Time is an input (<see cref="TimeProvider"/>) so tests need not wait.
/// </summary>
public sealed record PowerRetry(int Attempts = 3, TimeSpan? FirstDelay = null, TimeProvider? Time = null)
{
    public static PowerRetry Default { get; } = new();

    /// <summary>No retry at all (one attempt): for callers that retry themselves.</summary>
    public static PowerRetry None { get; } = new(1);

    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var delay = FirstDelay ?? TimeSpan.FromMilliseconds(500);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (PowerException e) when (e.IsTransient && attempt < Attempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(delay, Time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
                delay *= 2;
            }
        }
    }

    public Task RunAsync(Func<CancellationToken, Task> call, CancellationToken cancellationToken) =>
        RunAsync(
            async ct =>
            {
                await call(ct).ConfigureAwait(false);
                return true;
            },
            cancellationToken);
}
