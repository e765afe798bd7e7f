using Heorot.Model;

namespace Heorot.Tests.Model.Requests;

/// <summary>A property source backed by a dictionary, for tests.</summary>
internal sealed class PropertyBag(IReadOnlyDictionary<string, PropertyValue> values) : IPropertySource
{
    public IReadOnlyDictionary<string, PropertyValue> Values { get; } = values;

    public PropertyValue? Get(string name) => Values.TryGetValue(name, out var v) ? v : null;

    public static PropertyBag Of(params (string Name, object Value)[] values) =>
        new(values.ToDictionary(
            v => v.Name,
            v => v.Value switch
            {
                bool b => PropertyValue.Of(b),
                string s => PropertyValue.Of(s),
                int i => PropertyValue.Of(i),
                _ => PropertyValue.Of(Convert.ToDouble(v.Value, System.Globalization.CultureInfo.InvariantCulture)),
            }));

    public override string ToString() => string.Join(", ", Values.Select(kv => $"{kv.Key}={kv.Value}"));
}
