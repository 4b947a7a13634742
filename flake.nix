{
  description = "opencode-server: an HTTP server that runs the opencode coding agent";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # `nix develop` (or direnv with .envrc): everything the server, its tests and repo-tests.hurl use.
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            bun
            nodejs
            git
            ripgrep
            hurl
            opencode
            curl
            jq
          ];
          shellHook = ''
            echo "opencode-server dev shell: bun $(bun --version), opencode $(opencode --version 2>/dev/null || echo '?')"
            echo "  bun install && bun run test   # tests use the opencode pinned in package.json"
          '';
        };
      });

      # `nix fmt`
      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      # `nix flake check` builds the dev shell: every tool above must exist and build for the system.
      # There is no `packages` output: building the binary needs `bun install` from the npm registry,
      # which a pure Nix build cannot do without a pinned node_modules hash we cannot produce offline.
      checks = forAllSystems (pkgs: {
        devShell = self.devShells.${pkgs.stdenv.hostPlatform.system}.default;
      });
    };
}
