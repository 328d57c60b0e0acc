// One task run under the task library's mock runner (mock-run), configured by the test
// through TESTCAR_TASK_SCENARIO (inputs, variables, endpoints). The real task library runs
// (run(true): no mocked task lib), so the task really executes the gate given as gatePath,
// the fake testcar-gate playing back a recorded scenario, and emits real ##vso commands.
import * as path from 'path';
import * as tmrm from 'azure-pipelines-task-lib/mock-run';

const cfg = JSON.parse(process.env.TESTCAR_TASK_SCENARIO || '{}');
const tmr = new tmrm.TaskMockRunner(path.join(__dirname, '..', 'index.js'));
for (const [k, v] of Object.entries(cfg.inputs || {})) {
    tmr.setInput(k, String(v));
}
for (const [k, v] of Object.entries(cfg.env || {})) {
    process.env[k] = String(v);
}
tmr.run(true);
