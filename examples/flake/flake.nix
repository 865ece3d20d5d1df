{
  description = "hearth's example guests, made from the guest kit";

  # No inputs, not even nixpkgs: the builders are the host's /bin/sh and
  # coreutils, so this builds offline with `sandbox = false` and no
  # substituters. `make` copies this file beside the guest kit's vmlinux
  # and hello.ext4 into build/flake; build it as path:build/flake.
  outputs = { self }:
    let
      system = "x86_64-linux";
      gatewayPort = 18480;
      guest = { name, runner ? false }: derivation {
        inherit name system;
        builder = "/bin/sh";
        src = "${self}";
        port = toString gatewayPort;
        withRunner = if runner then "1" else "";
        args = [ "-c" ''
          set -e
          /bin/mkdir -p $out
          /bin/cp $src/vmlinux $out/vmlinux
          /bin/cp $src/hello.ext4 $out/rootfs.ext4
          if [ -n "$withRunner" ]; then
            /bin/mkdir -p $out/bin
            /bin/sed "s/@port@/$port/" $src/microvm-run >$out/bin/microvm-run
            /bin/cp $src/microvm-shutdown $out/bin/microvm-shutdown
            /bin/chmod 0555 $out/bin/microvm-run $out/bin/microvm-shutdown
          fi
        '' ];
      };
    in {
      packages.${system} = rec {
        # A plain guest: kernel and rootfs, for hearth's own backends.
        worker = guest { name = "hearth-worker"; };
        # The same guest with a microvm.nix-style runner that starts QEMU.
        gateway = guest { name = "hearth-gateway"; runner = true; };
        default = worker;
      };
    };
}
