// Fetching testcar-gate from the GitHub release the task's version names, checked against
// the release's sha256sums.txt (.github/workflows/release.yml attaches both). Kept free of
// the task library so it is tested with plain mocha and a local HTTP server.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';

/** The release asset for this machine, or an error naming what to do instead. */
export function assetName(platform: string, arch: string): string {
    const a = arch === 'x64' ? 'amd64' : arch === 'arm64' ? 'arm64' : '';
    if (platform !== 'linux' || !a) {
        throw new Error(
            `no testcar-gate release binary for ${platform}/${arch} (releases ship linux amd64 and arm64): ` +
            `set the gatePath input to an installed testcar-gate`);
    }
    return `testcar-gate-linux-${a}`;
}

/** The expected sha256 of `asset` in a sha256sums.txt (`HEX  NAME` lines). */
export function expectedSha256(sums: string, asset: string): string {
    for (const line of sums.split(/\r?\n/)) {
        const m = /^([0-9a-fA-F]{64}) [ *]?(.+)$/.exec(line.trim());
        if (m && m[2] === asset) {
            return m[1].toLowerCase();
        }
    }
    throw new Error(`sha256sums.txt has no line for ${asset}`);
}

export function sha256(data: Buffer): string {
    return crypto.createHash('sha256').update(data).digest('hex');
}

/** GET with redirects (GitHub sends release assets through a redirect). */
export function download(url: string, redirects = 5): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const get = url.startsWith('https:') ? https.get : http.get;
        const req = get(url, { headers: { 'User-Agent': 'testcar-azure-devops-task' } }, (res) => {
            const code = res.statusCode || 0;
            if (code >= 300 && code < 400 && res.headers.location) {
                res.resume();
                if (redirects <= 0) {
                    reject(new Error(`too many redirects fetching ${url}`));
                    return;
                }
                resolve(download(new URL(res.headers.location, url).toString(), redirects - 1));
                return;
            }
            if (code !== 200) {
                res.resume();
                reject(new Error(`GET ${url}: HTTP ${code}`));
                return;
            }
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
        });
        req.setTimeout(120000, () => req.destroy(new Error(`timed out fetching ${url}`)));
        req.on('error', reject);
    });
}

/**
 * testcar-gate VERSION for this machine under CACHE/VERSION/, downloaded from
 * BASE/vVERSION/ unless a copy with the published checksum is already there. A binary whose
 * checksum differs from sha256sums.txt is refused and not written.
 */
export async function fetchGate(base: string, version: string, cache: string,
    platform: string = process.platform, arch: string = process.arch): Promise<string> {
    const asset = assetName(platform, arch);
    const tag = version.startsWith('v') ? version : `v${version}`;
    const root = `${base.replace(/\/+$/, '')}/${tag}`;
    const sums = (await download(`${root}/sha256sums.txt`)).toString('utf8');
    const want = expectedSha256(sums, asset);
    const dir = path.join(cache, tag.slice(1));
    const file = path.join(dir, 'testcar-gate');
    if (fs.existsSync(file) && sha256(fs.readFileSync(file)) === want) {
        return file;
    }
    const data = await download(`${root}/${asset}`);
    const got = sha256(data);
    if (got !== want) {
        throw new Error(`checksum mismatch for ${root}/${asset}: sha256 ${got}, sha256sums.txt says ${want}`);
    }
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, data, { mode: 0o755 });
    return file;
}
