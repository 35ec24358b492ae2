// Media types the OCI layer reads and writes (oci.md §0, A3, A10). Pull accepts every known Wasm
// config and layer type; build writes the canonical bundle or one of the compat shapes.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Accept header for manifest GET/HEAD: without the OCI types distribution 2.8 answers 404. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

export const WBPF_BUNDLE_ARTIFACT = 'application/vnd.wbpf.bundle.v1';
export const WBPF_BPF_OBJECT_LAYER = 'application/vnd.wbpf.bpf.object.v1+elf';

export const WASM_CONFIG_V0 = 'application/vnd.wasm.config.v0+json';
export const WASM_CONFIG_V1 = 'application/vnd.wasm.config.v1+json';
export const WASM_LAYER = 'application/wasm';
export const WASM_CONTENT_LAYER_V1 = 'application/vnd.wasm.content.layer.v1+wasm';
export const WASM_COMPONENT_LAYER_V0 = 'application/vnd.bytecodealliance.wasm.component.layer.v0+wasm';

export const WASM_CONFIG_TYPES: readonly string[] = [WASM_CONFIG_V0, WASM_CONFIG_V1];
export const WASM_LAYER_TYPES: readonly string[] = [WASM_LAYER, WASM_CONTENT_LAYER_V1, WASM_COMPONENT_LAYER_V0];

export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';

export function isManifestType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/** artifactType of the referrer manifest that carries a CNCF image's eBPF objects (oci.md §5.4). */
export const WBPF_BPF_OBJECTS_ARTIFACT = 'application/vnd.wbpf.bpf.objects.v1';
/** The empty config of artifacts that have none (oci.md A8): the two bytes `{}`. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
