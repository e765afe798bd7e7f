using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot image add|list|show|rm</c>: the image registry. <c>add</c> hashes each file, skips the upload of a
/// blob the server already holds, streams the others (with progress on a terminal), then registers the image.
/// </summary>
internal static partial class UserCommands
{
    private static Command Image()
    {
        var command = new Command("image", "VM images: a disk (qcow2 or raw) and/or a kernel and initrd, versioned, private or public.");
        command.Subcommands.Add(ImageAdd());
        command.Subcommands.Add(ImageList());
        command.Subcommands.Add(ImageShow());
        command.Subcommands.Add(ImageRemove());
        return command;
    }

    private static Command ImageAdd()
    {
        var reference = new Argument<string>("name") { Description = "NAME[:VERSION]; without a version, the next number (1, 2, …)." };
        var disk = new Argument<FileInfo?>("file") { Description = "The disk image (optional with --kernel).", Arity = ArgumentArity.ZeroOrOne };
        var format = new Option<string?>("--format") { Description = "The disk's format: qcow2 or raw (default: detected from its first bytes)." };
        var kernel = new Option<FileInfo?>("--kernel") { Description = "A Linux kernel to boot directly (ELF vmlinux or bzImage)." };
        var initrd = new Option<FileInfo?>("--initrd") { Description = "The initrd (or initramfs) for --kernel." };
        var cmdline = new Option<string?>("--cmdline") { Description = "The kernel command line for --kernel." };
        var isPublic = new Option<bool>("--public") { Description = "Visible to every user (default: you and operators only)." };
        var command = new Command("add", "Upload an image: heorot image add NAME[:VERSION] FILE [--format qcow2|raw] [--kernel K --initrd I --cmdline \"…\"] [--public].")
        {
            reference, disk, format, kernel, initrd, cmdline, isPublic,
        };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var (name, version) = ImageNames.Split(parse.GetValue(reference)!);
            if (!ImageNames.IsValidName(name))
            {
                return Terminal.Fail($"'{name}' is not an image name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
            }

            if (version != null && !ImageNames.IsValidVersion(version))
            {
                return Terminal.Fail(version == ImageNames.Latest
                    ? "'latest' names the newest version; give another version, or none for the next number"
                    : $"'{version}' is not a version: 1 to 64 letters, digits, '.', '_', '-' or '+'");
            }

            var diskFile = parse.GetValue(disk);
            var kernelFile = parse.GetValue(kernel);
            var initrdFile = parse.GetValue(initrd);
            var diskFormat = parse.GetValue(format);
            if (diskFile == null && kernelFile == null)
            {
                return Terminal.Fail("give a disk FILE, a --kernel, or both");
            }

            if (kernelFile == null && (initrdFile != null || parse.GetValue(cmdline) != null))
            {
                return Terminal.Fail("--initrd and --cmdline need --kernel");
            }

            if (diskFormat is not (null or "qcow2" or "raw"))
            {
                return Terminal.Fail($"--format: unknown format '{diskFormat}': expected qcow2 or raw");
            }

            foreach (var (what, file) in new[] { ("disk", diskFile), ("--kernel", kernelFile), ("--initrd", initrdFile) })
            {
                if (file is { Exists: false })
                {
                    return Terminal.Fail($"{what}: no such file: {file.FullName}");
                }
            }

            // Checked here too (the server has the last word) so a wrong file fails before a long upload.
            if (diskFile != null && diskFormat != null && ImageMagic.CheckDisk(diskFormat, await HeaderAsync(diskFile, ct)) is { } diskProblem)
            {
                return Terminal.Fail($"{diskFile.Name}: {diskProblem}");
            }

            if (kernelFile != null && ImageMagic.CheckKernel(await HeaderAsync(kernelFile, ct)) is { } kernelProblem)
            {
                return Terminal.Fail($"--kernel {kernelFile.Name}: {kernelProblem}");
            }

            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var files = new[] { diskFile, kernelFile, initrdFile }.Where(f => f != null).Select(f => f!).ToList();
            var digests = await UploadAllAsync(client, files, ct);
            var view = await client.PostAsync<ImageView>("v1/images", new ImageRequest
            {
                Name = name,
                Version = version,
                Format = diskFormat,
                Disk = diskFile == null ? null : digests[diskFile.FullName],
                Kernel = kernelFile == null ? null : digests[kernelFile.FullName],
                Initrd = initrdFile == null ? null : digests[initrdFile.FullName],
                Cmdline = parse.GetValue(cmdline),
                Public = parse.GetValue(isPublic),
            }, ct);
            Terminal.Out.WriteLine(parse.GetValue(JsonOption)
                ? JsonSerializer.Serialize(view, WireJson.Options)
                : $"image {view.Name}:{view.Version} added ({Bytes(view.Size)}, {(view.Public ? "public" : "private")})");
            return 0;
        }));
        return command;
    }

    /// <summary>Hashes and uploads each file (skipping blobs the server has), with progress on a terminal; digests by path.</summary>
    private static async Task<Dictionary<string, string>> UploadAllAsync(HeorotClient client, IReadOnlyList<FileInfo> files, CancellationToken ct)
    {
        var digests = new Dictionary<string, string>(StringComparer.Ordinal);
        async Task RunAsync(Func<string, long, Action<long>> progressFor)
        {
            foreach (var file in files)
            {
                if (digests.ContainsKey(file.FullName))
                {
                    continue;
                }

                var digest = await HashAsync(file, progressFor("hashing " + file.Name, file.Length), ct);
                digests[file.FullName] = digest;
                if (!await client.BlobExistsAsync(digest, ct))
                {
                    await client.UploadBlobAsync(digest, file.FullName, progressFor("uploading " + file.Name, file.Length), ct);
                }
            }
        }

        if (!Terminal.ShowsProgress)
        {
            await RunAsync((_, _) => _ => { });
            return digests;
        }

        await Terminal.Error.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context => await RunAsync((label, length) =>
            {
                var task = context.AddTask(Markup.Escape(label), maxValue: Math.Max(1, length));
                return done => task.Value = done;
            }));
        return digests;
    }

    private static async Task<string> HashAsync(FileInfo file, Action<long> progress, CancellationToken ct)
    {
        await using var stream = new ProgressStream(new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan), progress);
        return ImageNames.DigestPrefix + Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    private static async Task<byte[]> HeaderAsync(FileInfo file, CancellationToken ct)
    {
        await using var stream = file.OpenRead();
        var buffer = new byte[ImageMagic.HeaderBytes];
        var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
        return buffer[..read];
    }

    private static Command ImageList()
    {
        var command = new Command("list", "List the images you may see (yours, public ones; operators: all); * marks each name's latest version.");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var images = await client.GetAsync<List<ImageView>>("v1/images", ct);
            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(images, WireJson.Options));
                return 0;
            }

            var table = NewTable("NAME", "VERSION", "OWNER", "VISIBILITY", "CONTENTS", "SIZE", "CREATED");
            foreach (var i in images)
            {
                table.AddRow(
                    Markup.Escape(i.Name),
                    Markup.Escape(i.Version + (i.Latest ? " *" : string.Empty)),
                    Markup.Escape(i.Owner),
                    i.Public ? "public" : "private",
                    Markup.Escape(Contents(i)),
                    Bytes(i.Size),
                    i.CreateTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture));
            }

            Terminal.Rich.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command ImageShow()
    {
        var reference = new Argument<string>("name") { Description = "NAME[:VERSION] (default: the latest version)." };
        var command = new Command("show", "Show an image version: its blobs, digests and sizes.") { reference };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var view = await client.GetAsync<ImageView>(ImagePath(parse.GetValue(reference)!), ct);
            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(view, WireJson.Indented));
                return 0;
            }

            var lines = new List<(string, string)>
            {
                ("name", view.Name),
                ("version", view.Version + (view.Latest ? " (latest)" : string.Empty)),
                ("owner", view.Owner),
                ("visibility", view.Public ? "public" : "private"),
                ("created", view.CreateTime.ToLocalTime().ToString("u", CultureInfo.InvariantCulture)),
                ("size", Bytes(view.Size)),
            };
            if (view.Disk is { } d)
            {
                lines.Add(("disk", $"{d.Digest}  {Bytes(d.Size)}  {view.Format}"));
            }

            if (view.Kernel is { } k)
            {
                lines.Add(("kernel", $"{k.Digest}  {Bytes(k.Size)}"));
            }

            if (view.Initrd is { } r)
            {
                lines.Add(("initrd", $"{r.Digest}  {Bytes(r.Size)}"));
            }

            if (view.Cmdline != null)
            {
                lines.Add(("cmdline", view.Cmdline));
            }

            var width = lines.Max(l => l.Item1.Length);
            foreach (var (key, value) in lines)
            {
                Terminal.Out.WriteLine($"{key.PadRight(width)}  {value}");
            }

            return 0;
        }));
        return command;
    }

    private static Command ImageRemove()
    {
        var reference = new Argument<string>("name") { Description = "NAME[:VERSION] (default: the latest version)." };
        var command = new Command("rm", "Remove an image version (yours; operators: any); blobs no other image uses are deleted.") { reference };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var view = await client.DeleteAsync<ImageView>(ImagePath(parse.GetValue(reference)!), ct);
            Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(view, WireJson.Options) : $"image {view.Name}:{view.Version} removed");
            return 0;
        }));
        return command;
    }

    private static string ImagePath(string reference)
    {
        var (name, version) = ImageNames.Split(reference);
        return $"v1/images/{Uri.EscapeDataString(name)}/{Uri.EscapeDataString(version ?? ImageNames.Latest)}";
    }

    private static string Contents(ImageView image) => string.Join(
        "+",
        new[] { image.Disk != null ? image.Format ?? "disk" : null, image.Kernel != null ? "kernel" : null, image.Initrd != null ? "initrd" : null }.Where(p => p != null));

    internal static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
