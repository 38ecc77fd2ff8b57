import type { ImageRow } from "./store";

/** Image JSON, keys in docs/reference.md §8 order: custom properties first. */
export function imageView(r: ImageRow) {
  return {
    ...(JSON.parse(r.properties) as Record<string, string>),
    name: r.name,
    disk_format: r.disk_format,
    container_format: r.container_format,
    visibility: r.visibility,
    size: r.size,
    virtual_size: r.virtual_size,
    status: r.status,
    checksum: r.checksum,
    protected: r.protected === 1,
    min_ram: r.min_ram,
    min_disk: r.min_disk,
    owner: r.owner,
    os_hidden: r.os_hidden === 1,
    os_hash_algo: r.os_hash_algo,
    os_hash_value: r.os_hash_value,
    id: r.id,
    created_at: r.created_at,
    updated_at: r.updated_at,
    tags: JSON.parse(r.tags) as string[],
    self: `/v2/images/${r.id}`,
    file: `/v2/images/${r.id}/file`,
    schema: "/v2/schemas/image",
  };
}
