// An inline plugin every fault master gets (plain JS: the fixture master loads it without tsx).
// - After `master:stopped`, if something still holds the event loop a few seconds later, it prints what
//   (`fault:resources`): the "timers" column of the fault table. Its own timer is unref'd.
// - On the custom event `fault:arm` ({ hook: 'throw' | 'hang' }), those hooks throw or never resolve:
//   the plugin-hook faults. Unarmed, every hook is a no-op.
export default function faultProbe() {
  const armed = new Map();
  const act = (hook) => {
    const mode = armed.get(hook);
    if (mode === 'throw') throw new Error(`injected failure in ${hook}`);
    if (mode === 'hang') return new Promise(() => {});
    return undefined;
  };
  return {
    name: 'fault-probe',
    setup(master) {
      master.on('fault:arm', (hooks = {}) => {
        armed.clear();
        for (const [hook, mode] of Object.entries(hooks)) armed.set(hook, mode);
      });
      master.on('master:stopped', () => {
        setTimeout(() => master.emit('fault:resources', process.getActiveResourcesInfo()), 3000).unref();
      });
    },
    beforeFork: () => act('beforeFork'),
    onListening: () => act('onListening'),
    onSignal: () => act('onSignal'),
    onExit: () => act('onExit'),
  };
}
