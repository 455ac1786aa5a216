import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const byId = new Map(p.nodes.map((n: any) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
p.samples.forEach((id: number, i: number) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const incl = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  let cur: number | undefined = id;
  while (cur !== undefined) {
    const n: any = byId.get(cur);
    const url = n.callFrame.url; const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)/.exec(url);
    const where = pkg ? pkg[1] + '/' + pkg[2] : url.replace(/.*\/(src|\.cache[^/]*\/[^/]*\/src)\//, 'src/');
    const key = `${n.callFrame.functionName || '(anon)'} ${where}:${n.callFrame.lineNumber + 1}`;
    if (!seen.has(key)) { seen.add(key); incl.set(key, (incl.get(key) ?? 0) + us); }
    cur = parent.get(cur);
  }
}
console.log([...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 60)).map(([k, v]) => `${(100 * v / total).toFixed(1).padStart(5)}% ${k}`).join('\n'));
