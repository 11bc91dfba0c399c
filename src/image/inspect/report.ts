import type { DiskReport } from './inspect-disk.js';
export function formatReport(r: DiskReport): string {
  return `${JSON.stringify(r)}\n`;
}
