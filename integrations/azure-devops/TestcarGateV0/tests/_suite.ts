// The task under the task library's MockTestRunner: each case runs index.js in a child
// process with inputs, plays back one recorded gate scenario through the fake testcar-gate
// (integrations/testdata), and asserts the task result and the commands the task emitted.
import * as assert from 'assert';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import { assetName, expectedSha256, fetchGate, sha256 } from '../gatefetch';

const testdata = path.resolve(__dirname, '..', '..', '..', 'testdata');
const fakeGate = path.join(testdata, 'fake-testcar-gate');

interface Run {
    tr: MockTestRunner;
    args: string[] | null;
    kubeconfig: string | null;
    tmp: string;
}

async function runTask(scenario: string | null, inputs: { [k: string]: string }, env: { [k: string]: string } = {}): Promise<Run> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'testcar-ado-'));
    const argsFile = path.join(tmp, 'args.json');
    const all = {
        inputs: {
            connectionType: 'agent', namespace: 'shop', workloadKind: 'deployment', workload: 'orders',
            timeout: '10m', minPods: '1', junitPath: path.join(tmp, 'results', 'junit.xml'),
            publishTestResults: 'true', testRunTitle: 'Testcar orders', gateErrorResult: 'Failed',
            gatePath: fakeGate, ...inputs,
        },
        env: {
            AGENT_TEMPDIRECTORY: tmp,
            TESTCAR_FAKE_SCENARIO: scenario || '',
            TESTCAR_FAKE_ARGS_FILE: argsFile,
            ...env,
        },
    };
    for (const [k, v] of Object.entries(all.inputs)) {
        if (v === '') delete (all.inputs as any)[k];
    }
    process.env.TESTCAR_TASK_SCENARIO = JSON.stringify(all);
    const tr = new MockTestRunner(path.join(__dirname, 'scenario.js'), path.join(__dirname, '..', 'task.json'));
    tr.nodePath = process.execPath; // the mock runner would download a Node otherwise
    await tr.runAsync();
    delete process.env.TESTCAR_TASK_SCENARIO;
    let args = null, kubeconfig = null;
    if (fs.existsSync(argsFile)) {
        const rec = JSON.parse(fs.readFileSync(argsFile, 'utf8'));
        args = rec.args;
        kubeconfig = rec.kubeconfig;
    }
    return { tr, args, kubeconfig, tmp };
}

/** The ##vso commands in the task's stdout. */
function commands(tr: MockTestRunner): string[] {
    return tr.stdout.split(/\r?\n/).filter((l) => l.startsWith('##vso['));
}

function result(tr: MockTestRunner): string | undefined {
    const m = commands(tr).map((c) => /^##vso\[task\.complete result=([A-Za-z]+);/.exec(c)).find((x) => x);
    return m ? m[1] : undefined;
}

function has(tr: MockTestRunner, prefix: string): string {
    const c = commands(tr).find((l) => l.startsWith(prefix));
    assert.ok(c, `no command starting ${prefix} in:\n${commands(tr).join('\n')}\n--- stdout ---\n${tr.stdout}\n--- stderr ---\n${tr.stderr}`);
    return c!;
}

function summaryOf(tr: MockTestRunner): string {
    const line = has(tr, '##vso[task.uploadsummary]');
    return fs.readFileSync(line.slice('##vso[task.uploadsummary]'.length), 'utf8');
}

describe('Testcar gate task (mock runner)', function () {
    this.timeout(60000);

    it('passed: Succeeded, JUnit published, summary uploaded, outputs set', async () => {
        const { tr, args, tmp } = await runTask('passed', {});
        assert.strictEqual(result(tr), 'Succeeded', tr.stdout);
        assert.ok(tr.succeeded);
        assert.deepStrictEqual(args!.slice(0, 8), ['--namespace', 'shop', '--deployment', 'orders', '--timeout', '10m', '--min-pods', '1']);
        assert.ok(args!.includes('--summary-markdown'));
        assert.ok(!args!.includes('--rollback') && !args!.includes('--kubeconfig'));
        // by default the gate marks a passed ReplicaSet verified in its own default ConfigMap
        assert.ok(!args!.includes('--verified-configmap') && !args!.includes('--no-mark-verified'), String(args));
        const junit = path.join(tmp, 'results', 'junit.xml');
        const pub = has(tr, '##vso[results.publish ');
        assert.ok(pub.includes('type=JUnit') && pub.includes(`resultFiles=${junit}`) && pub.includes('runTitle=Testcar orders'), pub);
        assert.ok(summaryOf(tr).startsWith('## Testcar gate: ✅ PASSED'));
        has(tr, '##vso[task.setvariable variable=status;isOutput=true;issecret=false;]passed');
        has(tr, `##vso[task.setvariable variable=junitPath;isOutput=true;issecret=false;]${junit}`);
        assert.ok(fs.readFileSync(junit, 'utf8').includes('<testsuites'));
    });

    it('failed: Failed, the failing checks in the summary, JUnit still published', async () => {
        const { tr } = await runTask('failed', { rollbackOnFailure: 'true', failFast: 'true' });
        assert.strictEqual(result(tr), 'Failed', tr.stdout);
        assert.ok(tr.failed);
        assert.ok(has(tr, '##vso[task.complete').includes("a pod's tests did not pass"));
        has(tr, '##vso[results.publish ');
        const md = summaryOf(tr);
        assert.ok(md.startsWith('## Testcar gate: ❌ FAILED'), md);
        assert.ok(md.includes('| orders-7c9f8d6b5-8mn4p | load | POST /orders statusCode 201 | failed | 50 of 3000 responses had status 500 |'), md);
        has(tr, '##vso[task.setvariable variable=status;isOutput=true;issecret=false;]failed');
    });

    it('failed: rollback and fail-fast are passed to the gate', async () => {
        const { args } = await runTask('failed', { rollbackOnFailure: 'true', failFast: 'true' });
        assert.ok(args!.includes('--rollback') && args!.includes('--fail-fast'), String(args));
    });

    it('verifiedConfigMap and markVerified false are passed to the gate', async () => {
        let { tr, args } = await runTask('passed', { verifiedConfigMap: 'platform/testcar-verified', markVerified: 'true' });
        assert.strictEqual(result(tr), 'Succeeded', tr.stdout);
        assert.ok(args!.join(' ').includes('--verified-configmap platform/testcar-verified'), String(args));
        assert.ok(!args!.includes('--no-mark-verified'), String(args));
        ({ tr, args } = await runTask('passed', { markVerified: 'false' }));
        assert.strictEqual(result(tr), 'Succeeded', tr.stdout);
        assert.ok(args!.includes('--no-mark-verified') && !args!.includes('--verified-configmap'), String(args));
    });

    it('a bad verifiedConfigMap or markVerified fails before the gate', async () => {
        const expected = 'expected NAMESPACE/NAME of a ConfigMap (namespace a DNS label, name a DNS subdomain), e.g. testcar-system/testcar-verified';
        for (const value of ['testcar-verified', 'Platform/testcar-verified', 'platform/testcar/verified', 'a.b/testcar-verified', `${'x'.repeat(64)}/testcar-verified`]) {
            const { tr, args } = await runTask('passed', { verifiedConfigMap: value });
            const done = has(tr, '##vso[task.complete result=Failed');
            assert.ok(done.includes(`verifiedConfigMap "${value}": ${expected}`), done);
            assert.strictEqual(args, null, 'the gate must not run');
        }
        const { tr, args } = await runTask('passed', { markVerified: 'sometimes' });
        assert.ok(has(tr, '##vso[task.complete result=Failed').includes('markVerified "sometimes": expected true or false'), tr.stdout);
        assert.strictEqual(args, null);
    });

    it('error (timeout): Failed by default, with the gate\'s reason', async () => {
        const { tr } = await runTask('timeout', {});
        assert.strictEqual(result(tr), 'Failed', tr.stdout);
        const done = has(tr, '##vso[task.complete');
        assert.ok(done.includes('could not judge the rollout (exit 2): timed out after 5s'), done);
        has(tr, '##vso[results.publish ');
        assert.ok(summaryOf(tr).includes('**Error:** timed out after 5s'));
        has(tr, '##vso[task.setvariable variable=status;isOutput=true;issecret=false;]error');
    });

    it('error (a pod could not test): Failed, or SucceededWithIssues as configured', async () => {
        let { tr } = await runTask('error', {});
        assert.strictEqual(result(tr), 'Failed', tr.stdout);
        assert.ok(has(tr, '##vso[task.complete').includes('(exit 2): pod orders-7c9f8d6b5-2xkqz could not test: target never became ready'));
        assert.ok(summaryOf(tr).includes('| orders-7c9f8d6b5-2xkqz | ⚠️ error |'));
        has(tr, '##vso[results.publish ');
        ({ tr } = await runTask('error', { gateErrorResult: 'SucceededWithIssues' }));
        assert.strictEqual(result(tr), 'SucceededWithIssues', tr.stdout);
        has(tr, '##vso[task.issue type=warning;');
    });

    it('error (timeout) with gateErrorResult SucceededWithIssues', async () => {
        const { tr } = await runTask('timeout', { gateErrorResult: 'SucceededWithIssues' });
        assert.strictEqual(result(tr), 'SucceededWithIssues', tr.stdout);
        assert.ok(!tr.failed);
    });

    it('a failed test stays Failed even with gateErrorResult SucceededWithIssues', async () => {
        const { tr } = await runTask('failed', { gateErrorResult: 'SucceededWithIssues' });
        assert.strictEqual(result(tr), 'Failed', tr.stdout);
    });

    it('missing inputs: Failed before the gate runs', async () => {
        for (const missing of ['namespace', 'workload']) {
            const { tr, args } = await runTask('passed', { [missing]: '' });
            assert.strictEqual(result(tr), 'Failed', tr.stdout);
            assert.ok(has(tr, '##vso[task.complete').includes(`Input required: ${missing}`), tr.stdout);
            assert.strictEqual(args, null, 'the gate must not run');
            assert.ok(!commands(tr).some((c) => c.startsWith('##vso[results.publish')));
        }
        const { tr } = await runTask('passed', { minPods: '0' });
        assert.ok(has(tr, '##vso[task.complete result=Failed').includes('minPods must be a whole number'));
        const rb = await runTask('passed', { workloadKind: 'selector', workload: 'app=orders', rollbackOnFailure: 'true' });
        assert.ok(has(rb.tr, '##vso[task.complete result=Failed').includes('deployment only'));
    });

    it('bad kubeconfig: a missing file fails before the gate', async () => {
        const { tr, args } = await runTask('bad-kubeconfig', { connectionType: 'kubeconfig', kubeconfig: '/nonexistent/kubeconfig' });
        assert.strictEqual(result(tr), 'Failed');
        assert.ok(has(tr, '##vso[task.complete').includes('kubeconfig file /nonexistent/kubeconfig does not exist'));
        assert.strictEqual(args, null);
    });

    it('bad kubeconfig: an unreadable one is the gate\'s error (exit 2), passed through', async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'testcar-kc-'));
        const kc = path.join(tmp, 'kubeconfig');
        fs.writeFileSync(kc, 'this: [is not a kubeconfig\n');
        const { tr, args } = await runTask('bad-kubeconfig', { connectionType: 'kubeconfig', kubeconfig: kc, context: 'aks-shop' });
        assert.strictEqual(result(tr), 'Failed');
        assert.ok(has(tr, '##vso[task.complete').includes('failed to parse kubeconfig YAML'), tr.stdout);
        assert.ok(args!.join(' ').includes(`--kubeconfig ${kc} --context aks-shop`), String(args));
        assert.ok(summaryOf(tr).startsWith('## Testcar gate: ⚠️ ERROR'));
    });

    it('Kubernetes service connection (Kubeconfig): written for the gate, removed after', async () => {
        const { tr, args, tmp } = await runTask('passed', {
            connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'aks1',
        }, {
            ENDPOINT_URL_aks1: 'https://aks.example:443',
            ENDPOINT_AUTH_aks1: JSON.stringify({ scheme: 'Kubernetes', parameters: {} }),
            ENDPOINT_DATA_aks1_AUTHORIZATIONTYPE: 'Kubeconfig',
            ENDPOINT_AUTH_PARAMETER_aks1_KUBECONFIG: 'apiVersion: v1\nkind: Config\n',
            ENDPOINT_AUTH_PARAMETER_aks1_CLUSTERCONTEXT: 'shop-admin',
        });
        assert.strictEqual(result(tr), 'Succeeded', tr.stdout + tr.stderr);
        const kc = path.join(tmp, 'testcar-gate', 'kubeconfig');
        assert.ok(args!.join(' ').includes(`--kubeconfig ${kc} --context shop-admin`), String(args));
        assert.ok(!fs.existsSync(kc), 'the kubeconfig written for the gate is removed');
    });

    it('Kubernetes service connection (Azure subscription): refused with what to do', async () => {
        const { tr, args } = await runTask('passed', {
            connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'arm1',
        }, {
            ENDPOINT_URL_arm1: 'https://aks.example:443',
            ENDPOINT_AUTH_arm1: JSON.stringify({ scheme: 'Kubernetes', parameters: {} }),
            ENDPOINT_DATA_arm1_AUTHORIZATIONTYPE: 'AzureSubscription',
        });
        assert.strictEqual(result(tr), 'Failed');
        assert.ok(has(tr, '##vso[task.complete').includes('AzureSubscription'.toLowerCase()), tr.stdout);
        assert.strictEqual(args, null);
    });

    it('a gate that crashes (not 0/1/2) fails the task and still uploads a summary', async () => {
        const { tr } = await runTask('no-such-scenario', {});
        assert.strictEqual(result(tr), 'Failed');
        assert.ok(has(tr, '##vso[task.complete').includes('exited with 3, not a verdict'), tr.stdout);
        assert.ok(summaryOf(tr).includes('without writing its summary'));
    });
});

describe('fetching testcar-gate from a release', function () {
    this.timeout(30000);
    const bin = Buffer.from('#!/bin/sh\necho testcar-gate 0.1.0\n');
    let server: http.Server;
    let base = '';
    let tampered = false;
    before(async () => {
        server = http.createServer((req, res) => {
            const sums = `${sha256(bin)}  testcar-gate-linux-amd64\n${'0'.repeat(64)}  testcar-gate-linux-arm64\n`;
            if (req.url === '/download/v0.1.0/sha256sums.txt') {
                res.end(sums);
            } else if (req.url === '/download/v0.1.0/testcar-gate-linux-amd64') {
                res.writeHead(302, { location: '/assets/amd64' }).end();
            } else if (req.url === '/assets/amd64') {
                res.end(tampered ? Buffer.concat([bin, Buffer.from('x')]) : bin);
            } else {
                res.writeHead(404).end();
            }
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        base = `http://127.0.0.1:${(server.address() as any).port}/download`;
    });
    after(() => server.close());

    it('downloads through the redirect and checks the sha256', async () => {
        const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'testcar-cache-'));
        tampered = false;
        const file = await fetchGate(base, '0.1.0', cache, 'linux', 'x64');
        assert.deepStrictEqual(fs.readFileSync(file), bin);
        assert.ok(fs.statSync(file).mode & 0o100);
        // a tampered asset is refused, even when a good copy was cached before
        const cache2 = fs.mkdtempSync(path.join(os.tmpdir(), 'testcar-cache-'));
        tampered = true;
        await assert.rejects(fetchGate(base, 'v0.1.0', cache2, 'linux', 'x64'), /checksum mismatch/);
        assert.ok(!fs.existsSync(path.join(cache2, '0.1.0', 'testcar-gate')));
        // the good cached copy is reused without downloading the asset again
        assert.strictEqual(await fetchGate(base, '0.1.0', cache, 'linux', 'x64'), file);
    });

    it('names the asset per platform, refuses others', () => {
        assert.strictEqual(assetName('linux', 'arm64'), 'testcar-gate-linux-arm64');
        assert.throws(() => assetName('win32', 'x64'), /set the gatePath input/);
        assert.throws(() => expectedSha256('abc  other\n', 'testcar-gate-linux-amd64'), /no line/);
    });

    it('a missing release is an HTTP error', async () => {
        await assert.rejects(fetchGate(base, '9.9.9', os.tmpdir(), 'linux', 'x64'), /HTTP 404/);
    });
});

describe('task.json and the code agree', () => {
    const task = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'task.json'), 'utf8'));
    const code = fs.readFileSync(path.join(__dirname, '..', 'index.ts'), 'utf8');
    const names: string[] = task.inputs.map((i: any) => i.name);

    it('every input is read by the task, and the task reads only declared inputs', () => {
        const read = new Set<string>();
        for (const m of code.matchAll(/get(?:Bool|Path)?Input\('([A-Za-z]+)'/g)) {
            read.add(m[1]);
        }
        assert.deepStrictEqual([...read].sort(), [...names].sort());
    });

    it('pick lists default to one of their options; visible rules name inputs', () => {
        for (const i of task.inputs) {
            if (i.type === 'pickList' && i.defaultValue !== undefined) {
                assert.ok(Object.keys(i.options).includes(i.defaultValue), i.name);
            }
            for (const m of String(i.visibleRule || '').matchAll(/([A-Za-z]+) =/g)) {
                assert.ok(names.includes(m[1]), `${i.name}: visibleRule names ${m[1]}`);
            }
        }
    });

    it('the output variables are the ones the task sets', () => {
        const set = [...code.matchAll(/setVariable\('([A-Za-z]+)', [^)]*, false, true\)/g)].map((m) => m[1]);
        assert.deepStrictEqual(set.sort(), task.outputVariables.map((o: any) => o.name).sort());
    });

    it('the extension and the task have the same version', () => {
        const ext = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'vss-extension.json'), 'utf8'));
        const v = task.version;
        assert.strictEqual(ext.version, `${v.Major}.${v.Minor}.${v.Patch}`);
        const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
        assert.strictEqual(pkg.version, ext.version);
        // the task fetches the gate release of its own version: the workspace's
        const cargo = fs.readFileSync(path.join(__dirname, '..', '..', '..', '..', 'Cargo.toml'), 'utf8');
        const m = /\[workspace\.package\][^\[]*?\nversion = "([^"]+)"/.exec(cargo);
        assert.ok(m, 'workspace version in Cargo.toml');
        assert.strictEqual(ext.version, m![1]);
    });
});
