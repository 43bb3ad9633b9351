// Sending many files with per-file progress: files go in batches (one multipart request
// each); a file's share of its batch's progress is its bytes' place in the request.
import { upload } from "./api.js";

const BATCH_FILES = 20;
const BATCH_BYTES = 32 * 1024 * 1024;

function isArchive({ file, name }) {
  return /\.zip$/i.test(name) || file.type === "application/zip";
}

/** Group [{file, name}] into batches of at most BATCH_FILES files and about BATCH_BYTES. */
export function batches(items) {
  const groups = [];
  let current = [];
  let bytes = 0;
  for (const item of items) {
    if (isArchive(item)) {
      groups.push([item]); // answered with one document per member: alone, its row has them all
      continue;
    }
    if (current.length && (current.length >= BATCH_FILES || bytes + item.file.size > BATCH_BYTES)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.file.size;
  }
  if (current.length) groups.push(current);
  return groups;
}

/**
 * Upload one batch to `path`; `onFile(item, fraction)` tells each file's progress (0..1).
 * Resolves to the service's answer.
 */
export function sendBatch(path, batch, { fields, onFile }) {
  const starts = [];
  let offset = 0;
  for (const { file } of batch) {
    starts.push(offset);
    offset += file.size;
  }
  const onProgress = (sent) => {
    batch.forEach((item, i) => {
      const { size } = item.file;
      const fraction = size ? (sent - starts[i]) / size : sent >= starts[i] ? 1 : 0;
      onFile(item, Math.max(0, Math.min(1, fraction)));
    });
  };
  return upload(path, batch, { fields, onProgress }).then((answer) => {
    batch.forEach((item) => onFile(item, 1));
    return answer;
  });
}

/** The files of a folder picker as {file, name}, named by their path inside the folder. */
export function folderFiles(fileList) {
  return Array.from(fileList, (file) => {
    const relative = file.webkitRelativePath || file.name;
    const inside = relative.includes("/") ? relative.slice(relative.indexOf("/") + 1) : relative;
    return { file, name: inside.normalize("NFC") };
  });
}
