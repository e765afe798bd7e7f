namespace Heorot.Server.Api;

/// <summary>
/// A refusal the API reports as RFC 9457 problem details: an HTTP status, a stable machine-readable code (the
/// problem <c>type</c> ends with it), a message saying what is wrong, and where (a field, a caret under a token).
/// </summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string code, string message, string? field = null, string? caret = null)
        : base(message)
    {
        Status = status;
        Code = code;
        Field = field;
        Caret = caret;
    }

    public ApiException()
        : this(500, "internal", "internal error")
    {
    }

    public ApiException(string message)
        : this(400, "bad_request", message)
    {
    }

    public ApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = 500;
        Code = "internal";
    }

    public int Status { get; }

    public string Code { get; }

    public string? Field { get; }

    public string? Caret { get; }

    public static ApiException NotFound(string what) => new(404, "not_found", $"{what} does not exist");

    public static ApiException Forbidden(string message) => new(403, "forbidden", message);

    public static ApiException Conflict(string message) => new(409, "conflict", message);

    public static ApiException BadInput(string field, string message, string? caret = null) => new(400, "invalid_field", message, field, caret);
}
