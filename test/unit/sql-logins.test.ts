import { describe, expect, it } from "vitest";
import { alterLoginStatement, connectionStringValue, sqlConnectionString, sqlLoginPassword } from "../../src/azure/sqlLogins.ts";

/** Azure SQL Database's policy: 8–128 characters from at least three of four categories. */
function categories(password: string): string[] {
  return [
    /[A-Z]/.test(password) && "upper",
    /[a-z]/.test(password) && "lower",
    /[0-9]/.test(password) && "digit",
    /[^A-Za-z0-9]/.test(password) && "symbol",
  ].filter((c): c is string => c !== false);
}

describe("sqlLoginPassword", () => {
  it("meets Azure SQL's policy with all four categories, at the length asked, over many draws", () => {
    for (let i = 0; i < 2_000; i++) {
      const length = 8 + (i % 121);
      const password = sqlLoginPassword(length);
      expect(password).toHaveLength(length);
      expect(categories(password)).toEqual(["upper", "lower", "digit", "symbol"]);
    }
  });

  it("holds no character that needs quoting in T-SQL or a connection string", () => {
    const drawn = Array.from({ length: 500 }, () => sqlLoginPassword(64)).join("");
    expect(drawn).not.toMatch(/['"`;=\\{}\[\]\s,]/);
    expect(connectionStringValue(drawn)).toBe(drawn);
  });

  it("draws every character from the random source it is given, and refuses lengths outside 8 to 128", () => {
    const zero = () => 0;
    // Every draw 0: 'A', 'a', '0', '!', then 'A's; the shuffle swaps each position with the first.
    expect(sqlLoginPassword(8, zero)).toBe("a0!AAAAA");
    expect(() => sqlLoginPassword(7)).toThrow(RangeError);
    expect(() => sqlLoginPassword(129)).toThrow(RangeError);
    expect(() => sqlLoginPassword(12.5)).toThrow(RangeError);
  });

  it("differs between draws of the default source", () => {
    const drawn = new Set(Array.from({ length: 50 }, () => sqlLoginPassword(16)));
    expect(drawn.size).toBe(50);
  });
});

describe("sqlConnectionString", () => {
  it("is the ADO.NET string Azure's portal shows for SQL authentication", () => {
    const text = sqlConnectionString({ serverHost: "orders-sql.database.windows.net", database: "orders", login: "orders_app_a", password: "Abc-123!x" });

    expect(text).toBe(
      "Server=tcp:orders-sql.database.windows.net,1433;Initial Catalog=orders;Persist Security Info=False;User ID=orders_app_a;Password=Abc-123!x;MultipleActiveResultSets=False;Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;",
    );
  });

  it("quotes a password holding ';', a leading quote or outer white space, doubling an inner double quote", () => {
    expect(connectionStringValue("a;b")).toBe('"a;b"');
    expect(connectionStringValue('a;"b')).toBe('"a;""b"');
    expect(connectionStringValue("'ab")).toBe(`"'ab"`);
    expect(connectionStringValue(" ab")).toBe('" ab"');
    expect(connectionStringValue("a'b=c")).toBe("a'b=c");
    expect(sqlConnectionString({ serverHost: "h", database: "d", login: "l", password: "p;w" })).toContain('Password="p;w";');
  });
});

describe("alterLoginStatement", () => {
  it("brackets the name and writes the password as a Unicode literal, doubling ']' and quotes", () => {
    expect(alterLoginStatement("orders]app", "it's")).toBe("ALTER LOGIN [orders]]app] WITH PASSWORD = N'it''s'");
  });
});
