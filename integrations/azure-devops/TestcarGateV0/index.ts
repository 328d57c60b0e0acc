// Azure Pipelines task: run testcar-gate, publish its JUnit, attach its Markdown summary,
// and turn its exit code into the task result (docs/pipelines.md).
//   exit 0 -> Succeeded; 1 -> Failed; 2 (no verdict) -> Failed or SucceededWithIssues
//   (input gateErrorResult); anything else (a crash) -> Failed.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tl from 'azure-pipelines-task-lib/task';
import { fetchGate } from './gatefetch';

interface Connection {
    /** `--kubeconfig` value, if any. */
    kubeconfig?: string;
    /** `--context` value, if any. */
    context?: string;
    /** A kubeconfig this task wrote, removed at the end. */
    written?: string;
}

function taskVersion(): string {
    const task = JSON.parse(fs.readFileSync(path.join(__dirname, 'task.json'), 'utf8'));
    return `${task.version.Major}.${task.version.Minor}.${task.version.Patch}`;
}

function workDir(): string {
    const dir = path.join(tl.getVariable('Agent.TempDirectory') || os.tmpdir(), 'testcar-gate');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
}

/** A kubeconfig from a Kubernetes service connection (Kubeconfig or Service Account). */
function fromServiceConnection(id: string, dir: string): Connection {
    const type = (tl.getEndpointDataParameter(id, 'authorizationType', true) || 'Kubeconfig').toLowerCase();
    const file = path.join(dir, 'kubeconfig');
    if (type === 'kubeconfig') {
        const text = tl.getEndpointAuthorizationParameter(id, 'kubeconfig', false) || '';
        if (!text.trim()) {
            throw new Error(`the Kubernetes service connection ${id} holds no kubeconfig`);
        }
        fs.writeFileSync(file, text, { mode: 0o600 });
        const context = tl.getEndpointAuthorizationParameter(id, 'clusterContext', true) || undefined;
        return { kubeconfig: file, written: file, context };
    }
    if (type === 'serviceaccount') {
        const server = tl.getEndpointUrl(id, false) || '';
        const ca = tl.getEndpointAuthorizationParameter(id, 'serviceAccountCertificate', false) || '';
        const token64 = tl.getEndpointAuthorizationParameter(id, 'apiToken', false) || '';
        const token = Buffer.from(token64, 'base64').toString('utf8');
        tl.setSecret(token);
        // JSON is YAML: a kubeconfig the gate reads like any other.
        const config = {
            apiVersion: 'v1', kind: 'Config', 'current-context': 'testcar',
            clusters: [{ name: 'cluster', cluster: { server, 'certificate-authority-data': ca } }],
            users: [{ name: 'testcar', user: { token } }],
            contexts: [{ name: 'testcar', context: { cluster: 'cluster', user: 'testcar' } }],
        };
        fs.writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
        return { kubeconfig: file, written: file };
    }
    throw new Error(`Kubernetes service connection ${id}: authorization type ${type} is not supported ` +
        `(use Kubeconfig or Service Account, or connectionType "agent" after az aks get-credentials)`);
}

function connection(dir: string): Connection {
    const type = tl.getInput('connectionType', true);
    const context = tl.getInput('context', false) || undefined;
    let c: Connection;
    if (type === 'kubernetesServiceConnection') {
        c = fromServiceConnection(tl.getInput('kubernetesServiceConnection', true)!, dir);
    } else if (type === 'kubeconfig') {
        const file = tl.getPathInput('kubeconfig', true)!;
        if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
            throw new Error(`kubeconfig file ${file} does not exist`);
        }
        c = { kubeconfig: file };
    } else if (type === 'agent') {
        c = {};
    } else {
        throw new Error(`connectionType ${type}: expected kubernetesServiceConnection, kubeconfig or agent`);
    }
    if (context) {
        c.context = context;
    }
    return c;
}

async function gateBinary(): Promise<string> {
    const given = tl.getInput('gatePath', false);
    if (given) {
        if (!fs.existsSync(given)) {
            throw new Error(`gatePath ${given} does not exist`);
        }
        return given;
    }
    const version = tl.getInput('gateVersion', false) || taskVersion();
    const base = tl.getInput('gateReleaseUrl', false) || 'https://github.com/testcar/testcar/releases/download';
    const cache = path.join(tl.getVariable('Agent.ToolsDirectory') || workDir(), 'testcar-gate');
    console.log(`Fetching testcar-gate ${version} from ${base} (checked against sha256sums.txt)`);
    return fetchGate(base, version, cache);
}

/** A boolean input: `true` or `false` (any case); empty or not given is `dflt`. */
function parseBool(name: string, value: string | undefined, dflt: boolean): boolean {
    if (value === undefined || value === '') {
        return dflt;
    }
    if (/^true$/i.test(value)) return true;
    if (/^false$/i.test(value)) return false;
    throw new Error(`${name} ${JSON.stringify(value)}: expected true or false`);
}

const dnsLabel = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const configMapRef = new RegExp(`^${dnsLabel}/${dnsLabel}(\\.${dnsLabel})*$`);

/** NAMESPACE/NAME of a ConfigMap: the namespace a DNS label, the name a DNS subdomain. */
function isConfigMapRef(value: string): boolean {
    const [namespace, name] = value.split('/', 2);
    return configMapRef.test(value) && namespace.length <= 63 && name.length <= 253;
}

function readJson(file: string): any {
    try {
        return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
        return undefined;
    }
}

export async function run(): Promise<void> {
    let conn: Connection = {};
    try {
        const namespace = tl.getInput('namespace', true)!;
        const kind = tl.getInput('workloadKind', true)!;
        const workload = tl.getInput('workload', true)!;
        const timeout = tl.getInput('timeout', true)!;
        const minPods = tl.getInput('minPods', true)!;
        if (!/^[1-9][0-9]*$/.test(minPods)) {
            throw new Error(`minPods must be a whole number of at least 1, not ${JSON.stringify(minPods)}`);
        }
        if (!['deployment', 'statefulset', 'selector', 'pod'].includes(kind)) {
            throw new Error(`workloadKind ${kind}: expected deployment, statefulset, selector or pod`);
        }
        const rollback = tl.getBoolInput('rollbackOnFailure', false);
        if (rollback && kind !== 'deployment') {
            throw new Error('rollbackOnFailure works with workloadKind deployment only');
        }
        const verifiedConfigMap = tl.getInput('verifiedConfigMap', false) || '';
        if (verifiedConfigMap && !isConfigMapRef(verifiedConfigMap)) {
            throw new Error(`verifiedConfigMap ${JSON.stringify(verifiedConfigMap)}: expected NAMESPACE/NAME of a ConfigMap ` +
                '(namespace a DNS label, name a DNS subdomain), e.g. testcar-system/testcar-verified');
        }
        const markVerified = parseBool('markVerified', tl.getInput('markVerified', false), true);
        const junit = tl.getInput('junitPath', true)!;
        const errorResult = tl.getInput('gateErrorResult', false) || 'Failed';
        if (errorResult !== 'Failed' && errorResult !== 'SucceededWithIssues') {
            throw new Error(`gateErrorResult ${errorResult}: expected Failed or SucceededWithIssues`);
        }
        const dir = workDir();
        conn = connection(dir);
        const gate = await gateBinary();

        const json = path.join(dir, 'gate.json');
        const summary = path.join(dir, 'Testcar gate.md');
        for (const f of [json, summary]) {
            fs.rmSync(f, { force: true });
        }
        const tool = tl.tool(gate)
            .arg(['--namespace', namespace, `--${kind}`, workload])
            .arg(['--timeout', timeout, '--min-pods', minPods])
            .arg(['--junit', junit, '--json', json, '--summary-markdown', summary]);
        if (conn.kubeconfig) {
            tool.arg(['--kubeconfig', conn.kubeconfig]);
        }
        if (conn.context) {
            tool.arg(['--context', conn.context]);
        }
        tool.argIf(tl.getBoolInput('failFast', false), '--fail-fast');
        tool.argIf(rollback, '--rollback');
        if (verifiedConfigMap) {
            tool.arg(['--verified-configmap', verifiedConfigMap]);
        }
        tool.argIf(!markVerified, '--no-mark-verified');
        const env: { [key: string]: string } = {};
        for (const [k, v] of Object.entries(process.env)) {
            if (v !== undefined) env[k] = v;
        }
        env['TESTCAR_LOG_FORMAT'] = 'text';
        const code = await tool.exec({ ignoreReturnCode: true, env } as any);

        const report = readJson(json);
        const status: string = report?.status ?? (code === 0 ? 'passed' : code === 1 ? 'failed' : 'error');
        tl.setVariable('status', status, false, true);
        tl.setVariable('junitPath', junit, false, true);
        tl.setVariable('resultJson', json, false, true);

        if (tl.getBoolInput('publishTestResults', false) && fs.existsSync(junit)) {
            const title = tl.getInput('testRunTitle', false) || 'Testcar';
            new tl.TestPublisher('JUnit').publish([junit], 'false', '', '', title, 'true');
        } else if (!fs.existsSync(junit)) {
            tl.warning(`testcar-gate wrote no JUnit at ${junit}`);
        }
        if (!fs.existsSync(summary)) {
            fs.writeFileSync(summary, `## Testcar gate: ⚠️ ERROR\n\ntestcar-gate exited with ${code} without writing its summary; see the task log.\n`);
        }
        tl.uploadSummary(summary);

        const why = report?.error ? `: ${report.error}` : '';
        if (code === 0) {
            tl.setResult(tl.TaskResult.Succeeded, 'Testcar gate passed');
        } else if (code === 1) {
            tl.setResult(tl.TaskResult.Failed, 'Testcar gate failed: a pod\'s tests did not pass (see the Tests and Testcar gate tabs)');
        } else if (code === 2) {
            const message = `Testcar gate could not judge the rollout (exit 2)${why}`;
            if (errorResult === 'SucceededWithIssues') {
                tl.setResult(tl.TaskResult.SucceededWithIssues, message);
            } else {
                tl.setResult(tl.TaskResult.Failed, message);
            }
        } else {
            tl.setResult(tl.TaskResult.Failed, `testcar-gate exited with ${code}, not a verdict (0, 1 or 2): see the task log`);
        }
    } catch (err: any) {
        tl.setResult(tl.TaskResult.Failed, err?.message ?? String(err));
    } finally {
        if (conn.written) {
            fs.rmSync(conn.written, { force: true });
        }
    }
}

run();
