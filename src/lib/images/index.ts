/** Image sources of a registration (KTP and SELFIE): validation at enqueue, opening at upload. */
export {
  imageSourceSchema,
  sourceKind,
  type CheckDocument,
  type ImageDocument,
  type ImagePolicy,
  type ImageSource,
} from './source.ts';
export { checkImageSource, checkImageSources, type DecodedImages } from './check.ts';
export { base64ImageBytes, openImage, openImageBytes } from './open.ts';
export type { OpenedImage } from './opened-image.ts';
export {
  IMAGE_PIECE_BYTES,
  lengthOf,
  piecesOf,
  releasePieces,
  type ImagePieces,
} from './pieces.ts';
export { imagePolicyFromConfig } from './policy.ts';
export { sniffImageType, type ImageContentType } from './sniff.ts';
export { inspectImage, ImageProblem, type DimensionLimits } from './scan.ts';
