/**
 * The addresses a friend can dial to reach a listener: for a wildcard bind (0.0.0.0, ::)
 * every address of every local interface (os.networkInterfaces()), not the wildcard
 * itself, which nobody can connect to; for a specific bind, that address.
 */
import { networkInterfaces } from "node:os";

type Interfaces = ReturnType<typeof networkInterfaces>;

/** host:port (IPv6 in brackets) for each address the listener on `host`:`port` answers on; non-loopback first. @throws never */
export function listenAddresses(host: string, port: number, interfaces: Interfaces = networkInterfaces()): string[] {
  const wildV4 = host === "0.0.0.0";
  const wildV6 = host === "::" || host === "[::]";
  const join = (a: string, v6: boolean) => (v6 ? `[${a}]:${port}` : `${a}:${port}`);
  if (!wildV4 && !wildV6) return [join(host, host.includes(":"))];
  const out: { addr: string; internal: boolean }[] = [];
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      const v6 = a.family === "IPv6";
      if (v6 && (!wildV6 || a.address.toLowerCase().startsWith("fe80"))) continue; // link-local needs a %zone a friend cannot know
      out.push({ addr: join(a.address, v6), internal: a.internal });
    }
  }
  out.sort((x, y) => Number(x.internal) - Number(y.internal));
  const addrs = [...new Set(out.map((o) => o.addr))];
  return addrs.length > 0 ? addrs : [join(wildV6 ? "::1" : "127.0.0.1", wildV6)];
}
