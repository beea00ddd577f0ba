// runtime-spec v1.3 fields oci-runtime-tool has no options for: scheduler, I/O priority, exec CPU
// affinity, personality, time offsets, memory policy, network devices.
import { usageError } from '../errors.js';
import type { GenerateOptions } from './option-table.js';
import { addNamespace, linuxOf } from './linux.js';
import { processOf } from './process.js';
import type { IOPriority, Personality, Spec } from './spec.js';
import { bad, cpuList, csv, int, oneOf, parts, uint } from './values.js';

const POLICIES = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'];
const SCHED_FLAGS = ['RESET_ON_FORK', 'RECLAIM', 'DL_OVERRUN', 'KEEP_POLICY', 'KEEP_PARAMS', 'UTIL_CLAMP_MIN', 'UTIL_CLAMP_MAX'].map((f) => `SCHED_FLAG_${f}`);
const IO_CLASSES = ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] as const;
const MPOL_MODES = ['DEFAULT', 'BIND', 'INTERLEAVE', 'WEIGHTED_INTERLEAVE', 'PREFERRED', 'PREFERRED_MANY', 'LOCAL'].map((m) => `MPOL_${m}`);
const MPOL_FLAGS = ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'];
const I32 = 2 ** 31;

/** Upper-cased, with `prefix` added when left out: fifo → SCHED_FIFO. */
const named = (v: string, prefix: string) => (v.toUpperCase().startsWith(prefix) ? v.toUpperCase() : `${prefix}${v.toUpperCase()}`);

export function applyScheduler(spec: Spec, o: GenerateOptions): void {
  const s: Record<string, unknown> = {};
  if (o.processSchedulerPolicy !== undefined) s.policy = oneOf(named(o.processSchedulerPolicy, 'SCHED_'), POLICIES, '--process-scheduler-policy');
  if (o.processSchedulerNice !== undefined) s.nice = int(o.processSchedulerNice, '--process-scheduler-nice', -20, 19);
  if (o.processSchedulerPriority !== undefined) s.priority = int(o.processSchedulerPriority, '--process-scheduler-priority', -I32, I32 - 1);
  const flags = csv(o.processSchedulerFlags).map((f) => oneOf(named(f, 'SCHED_FLAG_'), SCHED_FLAGS, '--process-scheduler-flags'));
  if (flags.length > 0) s.flags = flags;
  for (const k of ['runtime', 'deadline', 'period'] as const) {
    const v = o[`processScheduler${k.charAt(0).toUpperCase()}${k.slice(1)}` as 'processSchedulerRuntime'];
    if (v !== undefined) s[k] = uint(v, `--process-scheduler-${k}`);
  }
  if (Object.keys(s).length === 0) return;
  const p = processOf(spec);
  if (s.policy === undefined && !p.scheduler) throw usageError('the --process-scheduler-* options need --process-scheduler-policy');
  p.scheduler = { ...p.scheduler, ...s } as NonNullable<typeof p.scheduler>;
}

export function applyProcessExtras(spec: Spec, o: GenerateOptions): void {
  applyScheduler(spec, o);
  if (o.processIoPriority !== undefined) {
    const flag = '--process-io-priority';
    const [cls, prio] = parts(o.processIoPriority, ':', 2, flag, 'CLASS:PRIORITY');
    const ioPriority: IOPriority = { class: oneOf(named(cls!, 'IOPRIO_CLASS_'), IO_CLASSES, flag), priority: int(prio!, flag, 0, 7) };
    processOf(spec).ioPriority = ioPriority;
  }
  if (o.processExecCpuAffinityInitial !== undefined) {
    (processOf(spec).execCPUAffinity ??= {}).initial = cpuList(o.processExecCpuAffinityInitial, '--process-exec-cpu-affinity-initial');
  }
  if (o.processExecCpuAffinityFinal !== undefined) {
    (processOf(spec).execCPUAffinity ??= {}).final = cpuList(o.processExecCpuAffinityFinal, '--process-exec-cpu-affinity-final');
  }
}

export function applyLinuxExtras(spec: Spec, o: GenerateOptions): void {
  if (o.linuxPersonality !== undefined) {
    const flag = '--linux-personality';
    const [domain, flags] = o.linuxPersonality.split(/:(.*)/s) as [string, string | undefined];
    const personality: Personality = { domain: oneOf(domain.toUpperCase(), ['LINUX', 'LINUX32'] as const, flag) };
    if (flags !== undefined) {
      personality.flags = flags.split(',');
      if (personality.flags.some((f) => f === '')) throw bad(flag, o.linuxPersonality, 'has an empty flag');
    }
    linuxOf(spec).personality = personality;
  }
  for (const t of o.linuxTimeOffset ?? []) {
    const flag = '--linux-time-offset';
    const p = t.split(':');
    if (p.length !== 2 && p.length !== 3) throw bad(flag, t, 'is not CLOCK:SECS[:NANOSECS]');
    const clock = oneOf(p[0]!, ['monotonic', 'boottime'], flag);
    const offset = { secs: int(p[1]!, flag), nanosecs: p[2] === undefined ? 0 : int(p[2], flag, 0, 999_999_999) };
    (linuxOf(spec).timeOffsets ??= {})[clock] = offset;
    // Offsets apply to a time namespace; add one unless the config has it.
    if (!spec.linux!.namespaces?.some((n) => n.type === 'time')) addNamespace(spec, 'time', '', flag);
  }
  if (o.linuxMemoryPolicy !== undefined) {
    const flag = '--linux-memory-policy';
    const [mode, nodes = '', flags] = o.linuxMemoryPolicy.split(':');
    const policy = { mode: oneOf(named(mode!, 'MPOL_'), MPOL_MODES, flag), nodes: nodes === '' ? '' : cpuList(nodes, flag) };
    const f = flags === undefined ? [] : flags.split(',').map((x) => oneOf(named(x, 'MPOL_F_'), MPOL_FLAGS, flag));
    linuxOf(spec).memoryPolicy = f.length > 0 ? { ...policy, flags: f } : policy;
  }
  for (const d of o.linuxNetDevice ?? []) {
    const [name, newName] = d.split(':') as [string, string | undefined];
    if (!name || d.split(':').length > 2 || newName === '') throw bad('--linux-net-device', d, 'is not NAME[:NEWNAME]');
    (linuxOf(spec).netDevices ??= {})[name] = newName === undefined ? {} : { name: newName };
  }
}
