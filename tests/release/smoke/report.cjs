// Shared by every smoke script: reads the run's decisions back from the audit store (a fresh
// handle, as another process would) and prints one JSON line for the release test.
module.exports = async function report({ openStore, db, traceId, format, finalOutput, refunds }) {
  const store = await openStore(`sqlite:${db}`);
  const { events } = await store.query({ traceId, order: 'asc' });
  await store.close();
  console.log(
    JSON.stringify({
      format,
      finalOutput,
      refunds,
      decisions: events
        .filter((e) => e.type === 'decision')
        .map((e) => ({ action: e.action, effect: e.effect, framework: e.framework, reason: e.reason })),
    }),
  );
};
