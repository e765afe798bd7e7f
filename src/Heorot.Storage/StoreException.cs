namespace Heorot.Storage;

/// <summary>Stable error codes of the store; their names are part of the API's problem details.</summary>
public enum StoreErrorCode
{
    /// <summary>The database cannot be reached or the connection broke; a retry may succeed.</summary>
    Unavailable,

    /// <summary>Lock contention, a serialization failure or a deadlock; a retry may succeed.</summary>
    Busy,

    /// <summary>A uniqueness or reference constraint refused the write.</summary>
    Constraint,

    /// <summary>The database was written by a newer Heorot: its schema version is unknown here.</summary>
    SchemaTooNew,

    /// <summary>A migration script failed; nothing of it was applied.</summary>
    MigrationFailed,

    /// <summary>The store is disposed.</summary>
    Closed,

    /// <summary>Anything else the engine reported.</summary>
    Internal,
}

/// <summary>Every storage failure: a stable <see cref="Code"/> and whether retrying could succeed.</summary>
public sealed class StoreException : Exception
{
    public StoreException(StoreErrorCode code, string message, bool isTransient, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        IsTransient = isTransient;
    }

    public StoreException()
        : this(StoreErrorCode.Internal, "storage error", false)
    {
    }

    public StoreException(string message)
        : this(StoreErrorCode.Internal, message, false)
    {
    }

    public StoreException(string message, Exception innerException)
        : this(StoreErrorCode.Internal, message, false, innerException)
    {
    }

    public StoreErrorCode Code { get; }

    public bool IsTransient { get; }
}
