// Hooks pnpm runs in this workspace (pnpm pack and pnpm publish, which `changeset publish` calls).
module.exports = {
  hooks: {
    // Published manifests carry what users install, nothing more: devDependencies name our private test harness
    // and versions only this repository needs, and no one installs a dependency's devDependencies.
    beforePacking(manifest) {
      delete manifest.devDependencies;
      return manifest;
    },
  },
};
