using System.Security.Cryptography;
using System.Text;

namespace Heorot.Storage;

/// <summary>Token secrets never reach the database: the store keeps and looks up their SHA-256 hash.</summary>
public static class ApiTokens
{
    /// <summary>The lowercase hex SHA-256 of the token's UTF-8 bytes.</summary>
    public static string Hash(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
