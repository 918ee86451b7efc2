import { describe, expect, it } from "vitest";
import { alterLoginPassword, hashLoginPassword, loginPasswordMatches, parseAlterLoginPassword, passwordPolicyError, revealLogin7Password, type Principal } from "../../estate/tds/logins.ts";
import type { SqlLogin } from "../../estate/state.ts";

/** MS-TDS 2.2.6.4 as a client applies it: each byte's nibbles swapped, then XOR 0xA5. */
function scramble(password: string): Buffer {
  return Buffer.from([...Buffer.from(password, "utf16le")].map((b) => (((b & 0x0f) << 4) | (b >> 4)) ^ 0xa5));
}

describe("estate TDS: the LOGIN7 password", () => {
  it("reveals a password scrambled as MS-TDS specifies", () => {
    expect(revealLogin7Password(Buffer.from([0xb3, 0xa5]))).toBe("a");
    expect(revealLogin7Password(scramble("Pässw0rd;'\"é€"))).toBe("Pässw0rd;'\"é€");
  });
});

describe("estate TDS: Azure SQL's password policy", () => {
  it("accepts 8 to 128 characters from three of the four categories", () => {
    expect(passwordPolicyError("app", "abcdEFG1")).toBeUndefined();
    expect(passwordPolicyError("app", "abcdefg!1")).toBeUndefined();
    expect(passwordPolicyError("app", `Aa1${"x".repeat(125)}`)).toBeUndefined();
  });

  it("answers 15116 below 8 characters, 15117 above 128, 15118 with two categories or the login's name inside", () => {
    expect(passwordPolicyError("app", "Ab1!xyz")).toMatchObject({ number: 15116, class: 16 });
    expect(passwordPolicyError("app", `Aa1${"x".repeat(126)}`)).toMatchObject({ number: 15117 });
    expect(passwordPolicyError("app", "abcdefgh12")).toMatchObject({ number: 15118, message: "Password validation failed. The password does not meet policy requirements because it is not complex enough." });
    expect(passwordPolicyError("orders_app", "X-ORDERS_APP-1y")).toMatchObject({ number: 15118 });
  });
});

describe("estate TDS: a kept password", () => {
  it("matches only its password, under a fresh salt each time", () => {
    const one = { passwordHash: hashLoginPassword("Right-Passw0rd") };
    const two = { passwordHash: hashLoginPassword("Right-Passw0rd") };

    expect(loginPasswordMatches(one, "Right-Passw0rd")).toBe(true);
    expect(loginPasswordMatches(one, "right-Passw0rd")).toBe(false);
    expect(one.passwordHash.hash).not.toBe(two.passwordHash.hash);
    expect(JSON.stringify(one)).not.toContain("Right-Passw0rd");
  });
});

describe("estate TDS: ALTER LOGIN … WITH PASSWORD", () => {
  it("reads names plain, bracketed or quoted, literals with or without N and with doubled quotes, and OLD_PASSWORD", () => {
    expect(parseAlterLoginPassword("ALTER LOGIN app WITH PASSWORD = 'a'")).toEqual({ login: "app", password: "a" });
    expect(parseAlterLoginPassword("alter login [my]]app] with password=N'it''s;\n'  ;  ")).toEqual({ login: "my]app", password: "it's;\n" });
    expect(parseAlterLoginPassword(`ALTER LOGIN "x y" WITH PASSWORD = N'new' OLD_PASSWORD = 'old'`)).toEqual({ login: "x y", password: "new", oldPassword: "old" });
    // Inside a literal, `--` is text, not a comment.
    expect(parseAlterLoginPassword("ALTER LOGIN app WITH PASSWORD = 'a -- b'")).toEqual({ login: "app", password: "a -- b" });
  });

  it("reads nothing else", () => {
    for (const text of [
      "ALTER LOGIN app DISABLE",
      "ALTER LOGIN app WITH PASSWORD = 'a' MUST_CHANGE",
      "ALTER LOGIN app WITH PASSWORD = 0x0100 HASHED",
      "ALTER LOGIN app WITH PASSWORD = 'a', OLD_PASSWORD = 'b'",
      "ALTER LOGIN app WITH PASSWORD = 'a'; SELECT 1",
      "ALTER LOGIN app WITH PASSWORD = 'unterminated",
      "ALTER LOGIN app WITH NAME = other",
      "ALTER LOGIN [] WITH PASSWORD = 'a'",
      "ALTER LOGIN app WITH PASSWORD = 'a' -- comment",
    ]) {
      expect(parseAlterLoginPassword(text), text).toBeUndefined();
    }
  });

  const login = (): SqlLogin => ({ name: "orders_app", passwordHash: hashLoginPassword("Old-Passw0rd"), disabled: false, passwordSetAt: 0 });
  const run = (text: string, principal: Principal, database = "master") => {
    const kept = login();
    const set: string[] = [];
    const error = alterLoginPassword(parseAlterLoginPassword(text)!, {
      database,
      principal,
      logins: { find: (name) => (name.toLowerCase() === kept.name ? kept : undefined), setPassword: (_l, password) => set.push(password) },
    });
    return { error, set };
  };
  const admin: Principal = { kind: "entra" };

  it("sets the password for the Entra admin in master", () => {
    expect(run("ALTER LOGIN ORDERS_APP WITH PASSWORD = 'New-Passw0rd'", admin)).toEqual({ error: undefined, set: ["New-Passw0rd"] });
  });

  it("answers 5001 outside master, 15151 for an unknown login, another login's session or a wrong OLD_PASSWORD, and the policy's error", () => {
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'New-Passw0rd'", admin, "orders").error).toMatchObject({ number: 5001, message: "User must be in the master database." });
    expect(run("ALTER LOGIN nobody WITH PASSWORD = 'New-Passw0rd'", admin).error).toMatchObject({ number: 15151, message: "Cannot alter the login 'nobody', because it does not exist or you do not have permission." });
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'New-Passw0rd' OLD_PASSWORD = 'Old-Passw0rd'", { kind: "sql", login: "other" }).error).toMatchObject({ number: 15151 });
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'New-Passw0rd'", { kind: "sql", login: "orders_app" }).error).toMatchObject({ number: 15151 });
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'New-Passw0rd' OLD_PASSWORD = 'Wrong-Passw0rd'", admin).error).toMatchObject({ number: 15151 });
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'weakweakweak'", admin)).toMatchObject({ error: { number: 15118 }, set: [] });
  });

  it("lets a login change its own password with OLD_PASSWORD", () => {
    expect(run("ALTER LOGIN orders_app WITH PASSWORD = 'New-Passw0rd' OLD_PASSWORD = 'Old-Passw0rd'", { kind: "sql", login: "ORDERS_APP" })).toEqual({ error: undefined, set: ["New-Passw0rd"] });
  });

  it("never quotes the password in an error", () => {
    const secret = "Secret-Passw0rd-In-Statement";
    const errors = [
      run(`ALTER LOGIN orders_app WITH PASSWORD = '${secret}'`, admin, "orders").error,
      run(`ALTER LOGIN nobody WITH PASSWORD = '${secret}'`, admin).error,
      run(`ALTER LOGIN orders_app WITH PASSWORD = 'weakweakweak' OLD_PASSWORD = '${secret}'`, admin).error,
    ];
    expect(errors.every((e) => e !== undefined)).toBe(true);
    expect(JSON.stringify(errors)).not.toContain(secret);
  });
});
