// Solaris, VM and Windows options.
import { decodeAs } from './go-json.js';
import type { GenerateOptions } from './option-table.js';
import type { Solaris, SolarisAnet, Spec, VM, Windows, WindowsNetwork, WindowsResources } from './spec.js';
import { absolute, bytes, oneOf, parseJson, parts } from './values.js';

const solarisOf = (spec: Spec): Solaris => (spec.solaris ??= {});
const vmOf = (spec: Spec): VM => (spec.vm ??= { hypervisor: { path: '' }, kernel: { path: '' }, image: { path: '', format: '' } });
const windowsOf = (spec: Spec): Windows => (spec.windows ??= { layerFolders: [] });
const windowsResourcesOf = (spec: Spec): WindowsResources => (windowsOf(spec).resources ??= {});

export function applySolaris(spec: Spec, o: GenerateOptions): void {
  for (const a of o.solarisAnet ?? []) {
    (solarisOf(spec).anet ??= []).push(decodeAs<SolarisAnet>(parseJson(a, '--solaris-anet'), 'Anet', '--solaris-anet'));
  }
  if (o.solarisCappedCpuNcpus !== undefined) (solarisOf(spec).cappedCPU ??= {}).ncpus = o.solarisCappedCpuNcpus;
  if (o.solarisCappedMemoryPhysical !== undefined) (solarisOf(spec).cappedMemory ??= {}).physical = o.solarisCappedMemoryPhysical;
  if (o.solarisCappedMemorySwap !== undefined) (solarisOf(spec).cappedMemory ??= {}).swap = o.solarisCappedMemorySwap;
  if (o.solarisLimitpriv !== undefined) solarisOf(spec).limitpriv = o.solarisLimitpriv;
  if (o.solarisMaxShmMemory !== undefined) solarisOf(spec).maxShmMemory = o.solarisMaxShmMemory;
  if (o.solarisMilestone !== undefined) solarisOf(spec).milestone = o.solarisMilestone;
}

export function applyVM(spec: Spec, o: GenerateOptions): void {
  if (o.vmHypervisorPath !== undefined) vmOf(spec).hypervisor.path = absolute(o.vmHypervisorPath, '--vm-hypervisor-path');
  if (o.vmHypervisorParameters !== undefined) vmOf(spec).hypervisor.parameters = [...o.vmHypervisorParameters];
  if (o.vmKernelPath !== undefined) vmOf(spec).kernel.path = absolute(o.vmKernelPath, '--vm-kernel-path');
  if (o.vmKernelParameters !== undefined) vmOf(spec).kernel.parameters = [...o.vmKernelParameters];
  if (o.vmKernelInitrd !== undefined) vmOf(spec).kernel.initrd = absolute(o.vmKernelInitrd, '--vm-kernel-initrd');
  if (o.vmImagePath !== undefined) vmOf(spec).image.path = absolute(o.vmImagePath, '--vm-image-path');
  if (o.vmImageFormat !== undefined) vmOf(spec).image.format = oneOf(o.vmImageFormat, ['raw', 'qcow2', 'vdi', 'vmdk', 'vhd'], '--vm-image-format');
}

export function applyWindows(spec: Spec, o: GenerateOptions): void {
  if (o.windowsHypervUtilityVMPath !== undefined) (windowsOf(spec).hyperv ??= {}).utilityVMPath = o.windowsHypervUtilityVMPath;
  if (o.windowsIgnoreFlushesDuringBoot !== undefined) windowsOf(spec).ignoreFlushesDuringBoot = o.windowsIgnoreFlushesDuringBoot;
  for (const f of o.windowsLayerFolders ?? []) (windowsOf(spec).layerFolders ??= []).push(f);
  for (const d of o.windowsDevices ?? []) {
    const [id, idType] = parts(d, ':', 2, '--windows-devices', 'ID:class');
    oneOf(idType!, ['class'], '--windows-devices');
    const list = (windowsOf(spec).devices ??= []);
    if (!list.some((x) => x.id === id)) list.push({ id: id!, idType: idType! });
  }
  if (o.windowsNetwork !== undefined) {
    windowsOf(spec).network = decodeAs<WindowsNetwork>(parseJson(o.windowsNetwork, '--windows-network'), 'WindowsNetwork', '--windows-network');
  }
  if (o.windowsNetworkAllowunqualifieddnsquery !== undefined) {
    (windowsOf(spec).network ??= {}).allowUnqualifiedDNSQuery = o.windowsNetworkAllowunqualifieddnsquery;
  }
  if (o.windowsNetworkNetworkNamespace !== undefined) (windowsOf(spec).network ??= {}).networkNamespace = o.windowsNetworkNetworkNamespace;
  if (o.windowsResourcesCpu !== undefined) {
    windowsResourcesOf(spec).cpu = decodeAs(parseJson(o.windowsResourcesCpu, '--windows-resources-cpu'), 'WindowsCPU', '--windows-resources-cpu');
  }
  if (o.windowsResourcesMemoryLimit !== undefined) {
    (windowsResourcesOf(spec).memory ??= {}).limit = bytes(o.windowsResourcesMemoryLimit, '--windows-resources-memory-limit');
  }
  if (o.windowsResourcesStorage !== undefined) {
    windowsResourcesOf(spec).storage = decodeAs(parseJson(o.windowsResourcesStorage, '--windows-resources-storage'), 'WindowsStorage', '--windows-resources-storage');
  }
  if (o.windowsServicing !== undefined) windowsOf(spec).servicing = o.windowsServicing;
}
