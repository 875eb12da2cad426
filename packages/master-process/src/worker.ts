// The worker side, for apps that want ready(), onShutdown() or drain(): require('master-process/worker').
export * from '@master-process/core/worker';
