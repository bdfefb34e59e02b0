// formats: atomic writes, safetensors files, PEFT and native adapter folders
export { writeFileAtomic, writeFilesAtomic } from './atomic-write.js';
export { acquireFolderLock, withFolderLock, folderLockPath } from './folder-lock.js';
export type { FolderLock, FolderLockOwner } from './folder-lock.js';
export { readFileBytes, readSafetensorsFile, writeSafetensorsFile } from './safetensors-file.js';
export {
  readPeftAdapterFolder,
  savePeftAdapter,
  loadNativeAdapter,
  saveNativeAdapter,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
} from './adapter-files.js';
