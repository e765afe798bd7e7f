namespace Heorot.Drivers.Power;

/// <summary>
/// An in-memory machine behind a fake BMC, for tests of everything above the drivers (the elastic manager, the
/// power verbs). It keeps the same contract as the real drivers (the conformance suite runs against it) and can
/// misbehave on request: hang, lie about its state, or fail a number of calls.
/// </summary>
public sealed class FakeMachine
{
    private readonly Lock gate = new();
    private bool on;
    private int boots;
    private BootDevice nextBoot = BootDevice.Default;
    private bool persistentBoot;
    private int failuresLeft;

    /// <summary>Raised after every change of the machine's power (true: it just started booting).</summary>
    public event Action<bool>? PowerChanged;

    /// <summary>Every call waits forever (until cancelled): a BMC that hangs.</summary>
    public bool Hang { get; set; }

    /// <summary>The BMC reports this state whatever the machine really is: a BMC that lies.</summary>
    public PowerState? Lie { get; set; }

    /// <summary>The device the last boot used.</summary>
    public BootDevice LastBootDevice { get; private set; } = BootDevice.Default;

    public bool IsOn
    {
        get
        {
            lock (gate)
            {
                return on;
            }
        }
    }

    /// <summary>How many times the machine started (power on, cycle, reset).</summary>
    public int Boots
    {
        get
        {
            lock (gate)
            {
                return boots;
            }
        }
    }

    public BootDevice NextBoot
    {
        get
        {
            lock (gate)
            {
                return nextBoot;
            }
        }
    }

    /// <summary>The next <paramref name="count"/> BMC calls fail as unreachable (transient).</summary>
    public void FailNext(int count)
    {
        lock (gate)
        {
            failuresLeft = count;
        }
    }

    /// <summary>The BMC's password; null: none asked.</summary>
    public string? Password { get; set; }

    internal async Task EnterAsync(string? password, CancellationToken cancellationToken)
    {
        if (Password != null && !string.Equals(Password, password, StringComparison.Ordinal))
        {
            throw new PowerException(PowerErrorCode.AuthFailed, "fake BMC: the credentials were refused");
        }

        if (Hang)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }

        lock (gate)
        {
            if (failuresLeft > 0)
            {
                failuresLeft--;
                throw new PowerException(PowerErrorCode.Unreachable, "fake BMC: no answer", isTransient: true);
            }
        }
    }

    internal PowerState Reported()
    {
        lock (gate)
        {
            return Lie ?? (on ? PowerState.On : PowerState.Off);
        }
    }

    internal void Set(bool power, bool restart = false)
    {
        bool changed;
        lock (gate)
        {
            changed = on != power || restart;
            if (power && changed)
            {
                boots++;
                LastBootDevice = nextBoot;
                if (!persistentBoot)
                {
                    nextBoot = BootDevice.Default;
                }
            }

            on = power;
        }

        if (changed)
        {
            PowerChanged?.Invoke(power);
        }
    }

    internal void SetBoot(BootDevice device, bool persistent)
    {
        lock (gate)
        {
            nextBoot = device;
            persistentBoot = persistent;
        }
    }
}

/// <summary>
/// The fake BMC's driver: every capability, answered from a <see cref="FakeMachine"/>. With a
/// <see cref="FakeMachine.Password"/> set, a driver holding another password is refused, as a BMC would.
/// </summary>
public sealed class FakePowerDriver(FakeMachine machine, string? password = null) : IPowerDriver
{
    public string Kind => "fake";

    public PowerCapabilities Capabilities => PowerCapabilities.All;

    public FakeMachine Machine => machine;

    public PowerValidation Validate() => PowerValidation.Ok;

    private Task EnterAsync(CancellationToken cancellationToken) => machine.EnterAsync(password, cancellationToken);

    public async Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        return machine.Reported();
    }

    public async Task SetAsync(PowerAction action, CancellationToken cancellationToken = default)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        switch (action)
        {
            case PowerAction.On:
                machine.Set(true);
                break;
            case PowerAction.Off:
            case PowerAction.SoftOff:
                machine.Set(false);
                break;
            case PowerAction.Cycle:
            case PowerAction.Reset:
                machine.Set(true, restart: true);
                break;
            default:
                throw new PowerException(PowerErrorCode.Unsupported, $"fake BMC: unknown action {action}");
        }
    }

    public async Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        machine.SetBoot(device, persistent);
    }
}
