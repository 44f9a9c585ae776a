/**
 * Installing Capstan into a cluster, bootstrapping it to manage itself from Git, and removing it:
 * the functions behind `capstan install`, `capstan bootstrap` and `capstan uninstall`.
 */
export {
  clusterScopedName,
  CONTROLLER_NAME,
  DEFAULT_NAMESPACE,
  DEFAULT_REPLICAS,
  defaultImage,
  installManifests,
  installManifestsFrom,
  packageRoot,
  type InstallOptions,
} from './manifests.js';
export {
  applyInOrder,
  INSTALL_FIELD_MANAGER,
  waitForRollout,
  type AppliedObject,
  type InstallAction,
} from './apply.js';
export { countActions, describeCounts, install, type InstallReport, type InstallRun } from './install.js';
export {
  bootstrapFiles,
  PART_OF_LABEL,
  SELF_NAME,
  SELF_SECRET,
  SELF_SERVICE_ACCOUNT,
  type BootstrapFile,
  type BootstrapTarget,
} from './bootstrap-files.js';
export {
  bootstrap,
  waitForApplication,
  type BootstrapOptions,
  type BootstrapReport,
  type BootstrapRun,
} from './bootstrap.js';
export { uninstall, type UninstallOptions, type UninstallReport } from './uninstall.js';
