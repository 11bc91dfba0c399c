// What goes into the Debian 12 cloud image, as data: the suite, the package set handed to
// debootstrap, the disk layout, the fixed identifiers that make the disk reproducible, the
// units a cloud guest does not need, and the kernel command line. Everything here is an
// input of the image's version hash (build-debian.ts), so changing a line gives a new image.

export const DEBIAN_IMAGE_NAME = 'debian-12';
export const DEBIAN_SUITE = 'bookworm';
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/**
 * The packages debootstrap installs on top of minbase. debootstrap does not resolve
 * virtual packages, so python3-cffi-backend (which cloud-init's python3-cryptography
 * needs through a virtual package) is named explicitly; without it cloud-init stays
 * unconfigured (guest-notes.md).
 */
export const DEBIAN_PACKAGES: readonly string[] = [
  'linux-image-cloud-amd64',
  'systemd-sysv',
  'udev',
  'dbus',
  'cloud-init',
  'cloud-guest-utils',
  'openssh-server',
  'ifupdown',
  'isc-dhcp-client',
  'iproute2',
  'netbase',
  'sudo',
  'ca-certificates',
  'procps',
  'initramfs-tools',
  'zstd',
  'e2fsprogs',
  'grub-pc-bin',
  'grub-efi-amd64-bin',
  'grub2-common',
  'python3-cffi-backend',
];

export const SECTOR = 512;
/** The whole disk: 2 GiB virtual, sparse (cloud-init's growpart grows the root when the volume is larger). */
export const DISK_BYTES = 2 * 1024 * 1024 * 1024;
/**
 * MBR layout. Sectors 1..2047 hold GRUB's core.img for BIOS boot (boot.img's first 440 bytes
 * are in the MBR); partition 1 is the EFI system partition (type 0xef, FAT16, \EFI\BOOT\BOOTX64.EFI)
 * that OVMF boots; partition 2, last so that growpart can grow it, is the ext4 root.
 * MBR rather than GPT: SeaBIOS boots GRUB from sector 1 without a BIOS boot partition and
 * OVMF accepts an 0xef partition on an MBR disk.
 */
export const ESP_START_SECTOR = 2048;
export const ESP_SECTORS = 63 * 2048; // 63 MiB
export const ROOT_START_SECTOR = ESP_START_SECTOR + ESP_SECTORS; // 64 MiB
export const ROOT_SECTORS = DISK_BYTES / SECTOR - ROOT_START_SECTOR;
/** The MBR disk signature (bytes 440..443), fixed for reproducibility ("NTRD"). */
export const DISK_SIGNATURE = 0x4e545244;

/** Fixed identifiers: the same tree gives the same bytes, and fstab/GRUB find the root by UUID. */
export const ROOT_FS_UUID = '6e697472-6964-4465-9231-322d726f6f74';
export const ROOT_FS_HASH_SEED = '6e697472-6964-4465-9231-322d68617368';
export const ROOT_FS_LABEL = 'cloudimg-rootfs';
export const ESP_VOLUME_ID = '4e545244';
export const ESP_LABEL = 'ESP';

/**
 * The kernel command line. The serial console is where a cloud guest talks (GetConsoleOutput);
 * tty0 is kept second so a VGA console still shows something. No `quiet`: the kernel's and
 * systemd's lines are what a console reader and the boot test look for.
 */
export const KERNEL_CMDLINE = `root=UUID=${ROOT_FS_UUID} ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0`;

/**
 * Units disabled in the image: each costs boot time under TCG or wakes the guest later, and a
 * cloud guest does not need it (measurements in docs/IMAGE.md). `disable` removes the enablement
 * symlinks; `mask` also keeps a dependency from pulling the unit in.
 */
export const DISABLED_UNITS: readonly string[] = [
  'getty@tty1.service', // no VGA console in a cloud guest; serial-getty@ttyS0 comes from the console= line
  'e2scrub_reap.service',
  'systemd-pstore.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'fstrim.timer',
];
export const MASKED_UNITS: readonly string[] = [
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'modprobe@drm.service',
  // loaded on first use anyway (/dev/loop-control, /dev/fuse, /dev/mapper/control)
  'modprobe@dm_mod.service',
  'modprobe@loop.service',
  'modprobe@fuse.service',
];
