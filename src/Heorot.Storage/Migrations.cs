using System.Globalization;

namespace Heorot.Storage;

/// <summary>One versioned migration script: <c>Migrations/{Engine}/NNNN_name.sql</c>, embedded in the assembly.</summary>
internal sealed record Migration(int Version, string Name, string Sql);

internal static class Migrations
{
    /// <summary>The engine's migrations in version order; versions must run 1, 2, 3… without gaps.</summary>
    public static IReadOnlyList<Migration> For(string engine)
    {
        var assembly = typeof(Migrations).Assembly;
        var prefix = $"Heorot.Storage.Migrations.{engine}/";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var name = resource[prefix.Length..];
            var version = int.Parse(name[..name.IndexOf('_', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(version, name, reader.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"{engine} migrations must be numbered 1, 2, 3…: found {migrations[i].Name} at position {i + 1}");
            }
        }

        return migrations;
    }
}
