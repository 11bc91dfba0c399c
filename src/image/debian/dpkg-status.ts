// A reader of dpkg's status file (/var/lib/dpkg/status): stanzas of "Field: value" lines
// separated by blank lines. Pure: text in, installed packages out.

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
}

/** The packages whose Status is "install ok installed", sorted by name. */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    let name = '';
    let version = '';
    let arch = '';
    let status = '';
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, field, value] = m;
      if (field === 'Package') name = value ?? '';
      else if (field === 'Version') version = value ?? '';
      else if (field === 'Architecture') arch = value ?? '';
      else if (field === 'Status') status = value ?? '';
    }
    if (name !== '' && status === 'install ok installed') out.push({ name, version, arch });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
