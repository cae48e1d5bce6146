// The Raspberry Pi Imager manifest beside the image (<image>.json), so the image can be offered
// in Imager's custom repository list ("Use custom" → the .json). Sizes and checksums of the
// .img and .img.xz; the release date from SOURCE_DATE_EPOCH (reproducible). `url` is the .xz's
// file name, resolved next to the manifest, unless IMAGE_BASE_URL says where it will be served.
// No init_format: the image has no first-boot customisation for Imager to write (gateway.toml
// on the FAT partition is the configuration).
//   node image/imager-manifest.mjs IMG VERSION
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';

const [img, version] = process.argv.slice(2);
const sha256 = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');
const xz = `${img}.xz`;
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
const manifest = {
  os_list: [
    {
      name: `Pi masquerading gateway ${version}`,
      description: 'An IP masquerading gateway: LAN machines reach the Internet through the Pi over Ethernet or a PPP modem. Configure it by editing gateway.toml on the card.',
      url: `${process.env.IMAGE_BASE_URL ?? ''}${basename(xz)}`,
      extract_size: statSync(img).size,
      extract_sha256: sha256(img),
      image_download_size: statSync(xz).size,
      image_download_sha256: sha256(xz),
      release_date: new Date(epoch * 1000).toISOString().slice(0, 10),
      // Imager's device tags: the Pi 3 family includes the Zero 2 W, the Pi 4 family the 400 and CM4.
      devices: ['pi3-64bit', 'pi4-64bit'],
    },
  ],
};
process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
