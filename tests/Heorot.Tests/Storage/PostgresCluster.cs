using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Heorot.Tests.Support;
using Npgsql;

[assembly: AssemblyFixture(typeof(Heorot.Tests.Storage.PostgresCluster))]

namespace Heorot.Tests.Storage;

/// <summary>
/// The PostgreSQL the storage tests run against: <c>HEOROT_PG</c> (a connection string) when set, otherwise a
/// throwaway cluster on loopback started by <c>scripts/pg-throwaway</c> on first use and stopped at the end of
/// the run. Each test gets its own database. Missing PostgreSQL binaries fail the tests: they are never skipped.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private string? adminConnectionString;
    private string? directory;
    private int databases;

    public async Task<string> CreateDatabaseAsync()
    {
        var admin = await AdminAsync();
        var name = $"heorot_t{Environment.ProcessId}_{Interlocked.Increment(ref databases)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var connection = new NpgsqlConnection(await AdminAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<string> AdminAsync()
    {
        await gate.WaitAsync();
        try
        {
            return adminConnectionString ??= Environment.GetEnvironmentVariable("HEOROT_PG") is { Length: > 0 } given
                ? given
                : await StartAsync();
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<string> StartAsync()
    {
        if (!Directory.Exists("/usr/lib/postgresql"))
        {
            throw new InvalidOperationException(
                "the PostgreSQL storage tests need PostgreSQL server binaries under /usr/lib/postgresql (Debian: apt-get install -y postgresql) or HEOROT_PG set to a connection string");
        }

        directory = Directory.CreateTempSubdirectory("heorot-pg-").FullName;
        try
        {
            var output = await RunScriptAsync("start", directory, FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));
            return output.Trim().Split('\n')[^1];
        }
        catch
        {
            await RunScriptAsync("stop", directory);
            directory = null;
            throw;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RunScriptAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(SharedFiles.RepositoryRoot, "scripts", "pg-throwaway"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/pg-throwaway {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (directory != null)
        {
            await RunScriptAsync("stop", directory);
        }

        gate.Dispose();
    }
}
