// Drives tus-js-client (the real npm package, under Node) for tests/server/test_tus_clients.py.
// One argument: a JSON object of
//   endpoint, file, storage (a FileUrlStorage path: a later run resumes the same file from it),
//   uploadUrl (resume this upload instead), stopAt (abort once this many bytes are acknowledged),
//   chunkSize, metadata, headers, terminate (DELETE uploadUrl and stop).
// Prints one JSON object per line: every server answer, then "stopped", "success" or "error".
import * as fs from "node:fs";
import { FileUrlStorage, Upload } from "tus-js-client";

const args = JSON.parse(process.argv[2]);
const say = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");

if (args.terminate) {
  try {
    await Upload.terminate(args.uploadUrl, { headers: args.headers ?? {} });
    say("terminated");
  } catch (error) {
    say("error", { message: String(error), status: error.originalResponse?.getStatus() ?? null });
  }
  process.exit(0);
}

const file = fs.createReadStream(args.file);
const size = fs.statSync(args.file).size;
let upload;
const done = new Promise((resolve) => {
  upload = new Upload(file, {
    endpoint: args.endpoint,
    uploadUrl: args.uploadUrl ?? null,
    uploadSize: size,
    chunkSize: args.chunkSize ?? Infinity,
    metadata: args.metadata ?? {},
    headers: args.headers ?? {},
    retryDelays: [0, 200, 500, 1000],
    storeFingerprintForResuming: Boolean(args.storage),
    urlStorage: args.storage ? new FileUrlStorage(args.storage) : undefined,
    onAfterResponse(req, res) {
      say("response", { method: req.getMethod(), status: res.getStatus(),
                        offset: res.getHeader("Upload-Offset") ?? null, location: res.getHeader("Location") ?? null });
    },
    onUploadUrlAvailable() {
      say("url", { url: upload.url });
    },
    onChunkComplete(_chunk, accepted) {
      if (args.stopAt != null && accepted >= args.stopAt && accepted < size) {
        upload.abort().then(() => resolve(say("stopped", { offset: accepted, url: upload.url })));
      }
    },
    onSuccess() {
      resolve(say("success", { url: upload.url }));
    },
    onError(error) {
      resolve(say("error", { message: String(error.message ?? error),
                             status: error.originalResponse?.getStatus() ?? null,
                             body: error.originalResponse?.getBody() ?? null }));
    },
  });
});

if (args.storage) {
  const previous = await upload.findPreviousUploads();
  say("previous", { count: previous.length });
  if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
}
upload.start();
await done;
