// The public surface of the OCI layer, for index.ts and other layers.
export { loadArchive, saveArchive } from './archive.js';
export { BPF_ARCH_ANNOTATION, hostArch, OCI_ARCHITECTURES, selectObjects } from './arch.js';
export { buildBundle, CAPABILITIES_ANNOTATION, CAPABILITIES_CONFIG_KEY, type BuiltBundle, type BuiltManifest, type BundleFile, type BundleFormat, type BundleInput } from './bundle.js';
export { extractBundle, objectsFor, readBundle, type BundleView } from './bundle-reader.js';
export { copyRemote, localName, pull, pullAllTags, push, pushAllTags, repositoryFor, type AllTagsOptions, type TransferOptions } from './client.js';
export { copy, copyGraph, type CopyOptions, type CopyProgress, type CopyResult } from './copy.js';
export { eraseCredential, findCredential, storeCredential, type Credential } from './credentials.js';
export { DigestMismatchError } from './digest.js';
export { LayoutStore, type StoredImage } from './layout-store.js';
export { verifyLogin } from './login.js';
export type { Descriptor, ImageIndex, ImageManifest } from './manifest.js';
export { formatReference, parseReference, type Reference } from './reference.js';
export { RegistryClient, RegistryPool, type RegistryOptions } from './registry-client.js';
export { RegistryError } from './registry-error.js';
export { RegistryRepository } from './registry-repository.js';
export { openLocalStore, wbpfHome } from './store-location.js';
export type { BlobWriter, Target } from './target.js';
