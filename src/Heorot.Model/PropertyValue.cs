using System.Globalization;

namespace Heorot.Model;

/// <summary>The kind of a free-form node property value.</summary>
public enum PropertyKind
{
    String,
    Number,
    Boolean,
}

/// <summary>
/// A free-form property value attached to a node (string, number or boolean), as written by an operator in
/// the cluster description and tested by request expressions such as <c>mem &gt;= 64</c>.
/// </summary>
public readonly record struct PropertyValue
{
    private PropertyValue(PropertyKind kind, string? text, double number, bool flag)
    {
        Kind = kind;
        Text = text;
        Number = number;
        Flag = flag;
    }

    public PropertyKind Kind { get; }

    public string? Text { get; }

    public double Number { get; }

    public bool Flag { get; }

    public static PropertyValue Of(string text) => new(PropertyKind.String, text, 0, false);

    public static PropertyValue Of(double number) => new(PropertyKind.Number, null, number, false);

    public static PropertyValue Of(bool flag) => new(PropertyKind.Boolean, null, 0, flag);

    public override string ToString() => Kind switch
    {
        PropertyKind.String => Text!,
        PropertyKind.Number => Number.ToString("R", CultureInfo.InvariantCulture),
        _ => Flag ? "true" : "false",
    };
}

/// <summary>Read access to a set of named properties (a node's, or a test's).</summary>
public interface IPropertySource
{
    /// <summary>The value of <paramref name="name"/>, or null when the node does not define it.</summary>
    PropertyValue? Get(string name);
}
