// A small concurrency limit for transfers (blobs of one image, images of one repository).

/** Runs `fn` over items, `limit` at a time; after a failure no new item starts, and the first
 * error is thrown only once the running ones have settled (so no write is left half-done). */
export async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length && !failure) {
      try {
        await fn(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.error;
}
