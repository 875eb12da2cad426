/** The plugin's name: the namespace of its requests between the master and the worker halves. */
export const NAME = 'metrics';
/** master → worker: the worker's metrics now (`MetricJson[]`). */
export const COLLECT = 'collect';
/** worker → master (`context.send`): its last metrics, before it disconnects. */
export const FINAL = 'final';
