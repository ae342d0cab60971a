// A helper process for the seed-freshness test: another process on the same database sets the
// service seed (DATA_DIR, DATA_KEY and SEED_HEX from the environment), as a second API process
// would, through the real store and key ring, and exits.
import { dataKeyFromBase64, KeyRing } from '../../src/crypto/aes-gcm.js';
import { databasePath } from '../../src/db/open.js';
import { createSqliteStore } from '../../src/db/store.js';
import { DEFAULT_PARAMS } from '../../src/otp/totp.js';
import { SERVICE_SEED_AAD } from '../../src/services/seed-service.js';

const store = createSqliteStore(databasePath(process.env.DATA_DIR!), { backgroundCheckpoints: false });
const sealed = new KeyRing(dataKeyFromBase64(process.env.DATA_KEY!)).seal(Buffer.from(process.env.SEED_HEX!, 'hex'), SERVICE_SEED_AAD);
await store.credentials.replaceService(
  { secretBlob: sealed.blob, keyId: sealed.keyId, ...DEFAULT_PARAMS, status: 'active' },
  Date.now(),
  { userId: null, event: 'seed.set', success: true, ip: null, at: Date.now() },
  () => false,
);
store.close();
