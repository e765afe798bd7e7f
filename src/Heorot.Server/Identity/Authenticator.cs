using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Heorot.Protocol.Unix;
using Heorot.Storage;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Heorot.Server.Identity;

/// <summary>
/// Who is calling: on the local Unix socket, the peer's uid from the kernel (SO_PEERCRED, as munge trusts it);
/// elsewhere, a bearer token looked up by its hash. Agents present the cluster secret instead.
/// </summary>
public sealed class Authenticator(IHeorotStore store, ServerOptions options, string agentSecret)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private readonly ConcurrentDictionary<string, string> tokenCache = new(StringComparer.Ordinal);
    private readonly byte[] agentSecretBytes = Encoding.UTF8.GetBytes(agentSecret);

    public async Task<Caller?> AuthenticateAsync(HttpContext context)
    {
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is { AddressFamily: AddressFamily.Unix } && PeerUid(socket) is { } uid)
        {
            var name = UnixAccounts.ByUid(uid)?.Name ?? $"uid{uid}";
            return new Caller(name, uid == 0 || options.Operators.Contains(name), "unix-socket");
        }

        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            var hash = ApiTokens.Hash(header["Bearer ".Length..].Trim());
            if (!tokenCache.TryGetValue(hash, out var user))
            {
                var token = await store.FindTokenAsync(hash, context.RequestAborted);
                if (token == null)
                {
                    return null;
                }

                user = tokenCache.GetOrAdd(hash, token.User);
            }

            return new Caller(user, user == "root" || options.Operators.Contains(user), "token");
        }

        return null;
    }

    /// <summary>Whether the request carries the agents' cluster secret (compared in constant time).</summary>
    public bool IsAgent(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Agent ", StringComparison.Ordinal))
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(header["Agent ".Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, agentSecretBytes);
    }

    private static int? PeerUid(Socket socket)
    {
        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
            return length >= 8 ? BitConverter.ToInt32(credentials[4..8]) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>A new random token: <c>hrt_</c> and 32 random bytes, base64url.</summary>
    public static string NewToken() => "hrt_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
