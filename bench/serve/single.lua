-- One text per request (about 300 bytes: a short mail).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "Dear friend, you have been selected to receive a FREE gift card worth $500. Click the link below to claim your prize before it expires tonight. Limited offer, reply now with your address and bank details to confirm. Unsubscribe at any time by replying STOP. Best regards, the rewards team"}'
