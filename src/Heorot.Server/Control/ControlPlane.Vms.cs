using System.Globalization;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Server.Api;
using Heorot.Server.Identity;
using Heorot.Server.Images;

namespace Heorot.Server.Control;

/// <summary>
/// Jobs in virtual machines: the image is resolved at submission (the job keeps the blobs it was submitted
/// with), and at placement the job's VMs are spread over its nodes, each with a name, a private address on the
/// job's own network, and its share of the node's cores and memory.
/// </summary>
public sealed partial class ControlPlane
{
    /// <summary>The image registry (set by the server host); null: VM jobs are refused.</summary>
    public ImageRegistry? Images { get; set; }

    private async Task<VmAttributes?> VmAttributesOfAsync(Caller caller, SubmitRequest submission, CancellationToken cancellationToken)
    {
        if (submission.Image == null)
        {
            if (submission.VNodes != null || submission.SshKeys is { Count: > 0 })
            {
                throw ApiException.BadInput(submission.VNodes != null ? "vNodes" : "sshKeys", "--vnodes and --ssh-key are for jobs in virtual machines: add --image NAME");
            }

            return null;
        }

        if (submission.Interactive)
        {
            throw ApiException.BadInput("interactive", "a job in virtual machines is reached with heorot ssh JOB: drop -I");
        }

        var (name, version) = ImageNames.Split(submission.Image);
        if (!ImageNames.IsValidName(name) || (version != null && version != ImageNames.Latest && !ImageNames.IsValidVersion(version)))
        {
            throw ApiException.BadInput("image", $"'{submission.Image}' is not an image reference: NAME or NAME:VERSION");
        }

        if (submission.VNodes is { } count && (count < 1 || count > options.MaxVmsPerJob))
        {
            throw ApiException.BadInput("vNodes", $"a job has 1 to {options.MaxVmsPerJob} VMs, not {count}");
        }

        var keys = submission.SshKeys ?? [];
        foreach (var key in keys)
        {
            if (key.Length is 0 or > 8192 || key.Any(char.IsControl) || !(key.StartsWith("ssh-", StringComparison.Ordinal) || key.StartsWith("ecdsa-", StringComparison.Ordinal) || key.StartsWith("sk-", StringComparison.Ordinal)))
            {
                throw ApiException.BadInput("sshKeys", "an SSH public key is one line starting with ssh-, ecdsa- or sk- (as in ~/.ssh/id_ed25519.pub)");
            }
        }

        var registry = Images ?? throw new ApiException(409, "no_images", "this server has no image registry");
        Storage.ImageRecord image;
        try
        {
            image = await registry.ResolveAsync(caller, name, version ?? ImageNames.Latest, cancellationToken);
        }
        catch (ApiException e) when (e.Status == 404)
        {
            throw ApiException.BadInput("image", $"no image {name}{(version != null ? ":" + version : string.Empty)} that you may use (see heorot image list)");
        }

        var view = ImageRegistry.View(image, latest: false);
        if (view.Kernel == null && view.Disk == null)
        {
            throw ApiException.BadInput("image", $"image {view.Name}:{view.Version} has neither a kernel nor a disk to boot");
        }

        return new VmAttributes
        {
            Image = $"{view.Name}:{view.Version}",
            Kernel = view.Kernel,
            Initrd = view.Initrd,
            Disk = view.Disk,
            Format = view.Format,
            Cmdline = view.Cmdline,
            VNodes = submission.VNodes,
            SshKeys = keys,
        };
    }

    /// <summary>
    /// The job's VMs: VM k on node k mod N (so each node gets its share), named after the job; addresses on
    /// the job's private network (10.123.0.0/16, the same in every job: jobs never share a network); cores and
    /// memory of a node split evenly between its VMs (at least one vCPU and <see cref="ServerOptions.VmMemoryMb"/>
    /// when the job asked for no memory).
    /// </summary>
    internal VmJobSpec VmSpecOf(JobEntry job, VmAttributes vm, JobRuntime runtime)
    {
        var nodeCount = Math.Max(1, runtime.Nodes.Count);
        var count = vm.VNodes ?? nodeCount;
        var placements = new List<VmPlacement>(count);
        for (var k = 0; k < count; k++)
        {
            var index = k % nodeCount;
            var onNode = (count / nodeCount) + (index < count % nodeCount ? 1 : 0);
            var cores = index < runtime.Cores.Length ? runtime.Cores[index] : 1;
            var memory = index < runtime.Memory.Length ? runtime.Memory[index] : 0;
            placements.Add(new VmPlacement(
                $"vm{k}",
                runtime.Nodes.Count > 0 ? runtime.Nodes[index] : string.Empty,
                $"10.123.{(k + 10) / 250}.{((k + 10) % 250) + 1}",
                Math.Max(1, cores / onNode),
                memory > 0 ? Math.Max(96, memory / onNode) : options.VmMemoryMb));
        }

        return new VmJobSpec
        {
            Image = vm.Image,
            Kernel = vm.Kernel,
            Initrd = vm.Initrd,
            Disk = vm.Disk,
            Format = vm.Format,
            Cmdline = vm.Cmdline,
            Vms = placements,
            SshKeys = vm.SshKeys,
            Network = string.Create(CultureInfo.InvariantCulture, $"230.{77 + (int)(job.Id >> 16 & 0x7f)}.{job.Id >> 8 & 0xff}.{job.Id & 0xff}:{20000 + (job.Id % 40000)}"),
        };
    }
}
