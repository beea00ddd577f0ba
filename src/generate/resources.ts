// Cgroup resource options: memory, CPU, pids, block IO, hugepages, network, RDT and cgroup v2 unified.
import type { GenerateOptions } from './option-table.js';
import type { BlockIO, Spec, ThrottleKind } from './spec.js';
import { linuxOf, resourcesOf } from './linux.js';
import { bad, bytes, cpuList, int, keyValue, parts, u32, uint } from './values.js';

const blockIOOf = (spec: Spec): BlockIO => (resourcesOf(spec).blockIO ??= {});
const cpuOf = (spec: Spec) => (resourcesOf(spec).cpu ??= {});
const memoryOf = (spec: Spec) => (resourcesOf(spec).memory ??= {});
const weight = (v: string | number, flag: string) => int(v, flag, 10, 1000);

function deviceValue(value: string, flag: string, parseValue: (v: string) => number): [number, number, number | undefined] {
  const [major, minor, v] = parts(value, ':', 3, flag, 'MAJOR:MINOR:VALUE');
  return [int(major!, flag, 0), int(minor!, flag, 0), v === '-1' ? undefined : parseValue(v!)];
}

/** Per-device weight or leaf weight; -1 drops that one value (and the entry once it has neither). */
function weightDevices(spec: Spec, values: string[] | undefined, key: 'weight' | 'leafWeight', flag: string): void {
  for (const value of values ?? []) {
    const [major, minor, w] = deviceValue(value, flag, (v) => weight(v, flag));
    if (w === undefined && !spec.linux?.resources?.blockIO) continue;
    const list = (blockIOOf(spec).weightDevice ??= []);
    const i = list.findIndex((d) => d.major === major && d.minor === minor);
    const entry = list[i];
    if (w !== undefined) {
      if (entry) entry[key] = w;
      else list.push({ major, minor, [key]: w });
    } else if (entry) {
      const other = key === 'weight' ? 'leafWeight' : 'weight';
      if (entry[other] !== undefined) list[i] = { major, minor, [other]: entry[other] };
      else list.splice(i, 1);
    }
  }
}

/** Per-device throttle rate; -1 drops the device. */
function throttleDevices(spec: Spec, values: string[] | undefined, key: ThrottleKind, flag: string): void {
  for (const value of values ?? []) {
    const [major, minor, rate] = deviceValue(value, flag, (v) => uint(v, flag));
    if (rate === undefined && !spec.linux?.resources?.blockIO) continue;
    const list = (blockIOOf(spec)[key] ??= []);
    const i = list.findIndex((d) => d.major === major && d.minor === minor);
    if (rate === undefined) {
      if (i >= 0) list.splice(i, 1);
    } else if (i >= 0) list[i]!.rate = rate;
    else list.push({ major, minor, rate });
  }
}

export function applyResources(spec: Spec, o: GenerateOptions): void {
  if (o.linuxDisableOomKill) memoryOf(spec).disableOOMKiller = true;
  if (o.linuxBlkioLeafWeight !== undefined) blockIOOf(spec).leafWeight = weight(o.linuxBlkioLeafWeight, '--linux-blkio-leaf-weight');
  weightDevices(spec, o.linuxBlkioLeafWeightDevice, 'leafWeight', '--linux-blkio-leaf-weight-device');
  throttleDevices(spec, o.linuxBlkioReadBpsDevice, 'throttleReadBpsDevice', '--linux-blkio-read-bps-device');
  throttleDevices(spec, o.linuxBlkioReadIopsDevice, 'throttleReadIOPSDevice', '--linux-blkio-read-iops-device');
  if (o.linuxBlkioWeight !== undefined) blockIOOf(spec).weight = weight(o.linuxBlkioWeight, '--linux-blkio-weight');
  weightDevices(spec, o.linuxBlkioWeightDevice, 'weight', '--linux-blkio-weight-device');
  throttleDevices(spec, o.linuxBlkioWriteBpsDevice, 'throttleWriteBpsDevice', '--linux-blkio-write-bps-device');
  throttleDevices(spec, o.linuxBlkioWriteIopsDevice, 'throttleWriteIOPSDevice', '--linux-blkio-write-iops-device');

  if (o.linuxCpuShares !== undefined) cpuOf(spec).shares = uint(o.linuxCpuShares, '--linux-cpu-shares');
  if (o.linuxCpuPeriod !== undefined) cpuOf(spec).period = uint(o.linuxCpuPeriod, '--linux-cpu-period');
  if (o.linuxCpuQuota !== undefined) cpuOf(spec).quota = int(o.linuxCpuQuota, '--linux-cpu-quota', -1);
  if (o.linuxCpuBurst !== undefined) cpuOf(spec).burst = uint(o.linuxCpuBurst, '--linux-cpu-burst');
  if (o.linuxCpuIdle !== undefined) cpuOf(spec).idle = int(o.linuxCpuIdle, '--linux-cpu-idle', 0, 1);
  if (o.linuxRealtimeRuntime !== undefined) cpuOf(spec).realtimeRuntime = int(o.linuxRealtimeRuntime, '--linux-realtime-runtime');
  if (o.linuxPidsLimit !== undefined) (resourcesOf(spec).pids ??= {}).limit = int(o.linuxPidsLimit, '--linux-pids-limit', -1);
  if (o.linuxRealtimePeriod !== undefined) cpuOf(spec).realtimePeriod = uint(o.linuxRealtimePeriod, '--linux-realtime-period');
  if (o.linuxCpus !== undefined) cpuOf(spec).cpus = cpuList(o.linuxCpus, '--linux-cpus');

  for (const h of o.linuxHugepageLimitsAdd ?? []) {
    const flag = '--linux-hugepage-limits-add';
    const [pageSize, limitText] = parts(h, ':', 2, flag, 'PAGESIZE:LIMIT');
    if (!/^\d+[KMGTPE]B$/.test(pageSize!)) throw bad(flag, h, 'does not start with a page size such as 64KB, 2MB or 1GB');
    const limit = bytes(limitText!, flag);
    const list = (resourcesOf(spec).hugepageLimits ??= []);
    const entry = list.find((x) => x.pageSize === pageSize);
    if (entry) entry.limit = limit;
    else list.push({ pageSize: pageSize!, limit });
  }
  for (const pageSize of o.linuxHugepageLimitsDrop ?? []) {
    const list = spec.linux?.resources?.hugepageLimits;
    const i = list?.findIndex((x) => x.pageSize === pageSize) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  if (o.linuxIntelRdtClosid !== undefined) (linuxOf(spec).intelRdt ??= {}).closID = o.linuxIntelRdtClosid;
  if (o.linuxIntelRdtL3CacheSchema !== undefined) (linuxOf(spec).intelRdt ??= {}).l3CacheSchema = o.linuxIntelRdtL3CacheSchema;
  if (o.linuxIntelRdtMemBwSchema !== undefined) (linuxOf(spec).intelRdt ??= {}).memBwSchema = o.linuxIntelRdtMemBwSchema;
  for (const line of o.linuxIntelRdtSchemata ?? []) ((linuxOf(spec).intelRdt ??= {}).schemata ??= []).push(line);
  if (o.linuxMems !== undefined) cpuOf(spec).mems = cpuList(o.linuxMems, '--linux-mems');

  if (o.linuxMemLimit !== undefined) memoryOf(spec).limit = bytes(o.linuxMemLimit, '--linux-mem-limit', true);
  if (o.linuxMemReservation !== undefined) memoryOf(spec).reservation = bytes(o.linuxMemReservation, '--linux-mem-reservation', true);
  if (o.linuxMemSwap !== undefined) memoryOf(spec).swap = bytes(o.linuxMemSwap, '--linux-mem-swap', true);
  if (o.linuxMemKernelLimit !== undefined) memoryOf(spec).kernel = bytes(o.linuxMemKernelLimit, '--linux-mem-kernel-limit', true);
  if (o.linuxMemKernelTcp !== undefined) memoryOf(spec).kernelTCP = bytes(o.linuxMemKernelTcp, '--linux-mem-kernel-tcp', true);
  if (o.linuxMemSwappiness !== undefined) memoryOf(spec).swappiness = int(o.linuxMemSwappiness, '--linux-mem-swappiness', 0, 100);

  if (o.linuxNetworkClassid !== undefined) (resourcesOf(spec).network ??= {}).classID = u32(o.linuxNetworkClassid, '--linux-network-classid');
  for (const np of o.linuxNetworkPriorities ?? []) {
    const flag = '--linux-network-priorities';
    const [name, prio] = parts(np, ':', 2, flag, 'NAME:PRIORITY');
    if (!name) throw bad(flag, np, 'has no interface name');
    if (prio === '-1') {
      const list = spec.linux?.resources?.network?.priorities;
      const i = list?.findIndex((p) => p.name === name) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      continue;
    }
    const priority = u32(prio!, flag);
    const list = ((resourcesOf(spec).network ??= {}).priorities ??= []);
    const entry = list.find((p) => p.name === name);
    if (entry) entry.priority = priority;
    else list.push({ name, priority });
  }
  for (const u of o.linuxCgroupUnified ?? []) {
    const [k, v] = keyValue(u, '--linux-cgroup-unified');
    (resourcesOf(spec).unified ??= {})[k] = v;
  }
}
