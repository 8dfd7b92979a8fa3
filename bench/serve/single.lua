-- One text per request: a 288-byte spam mail (a 300-byte body).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "Dear friend, you have been selected to receive a FREE gift card worth $500. Click the link below to claim your prize before it expires tonight. Limited offer, reply now with your address and bank details to confirm. Unsubscribe at any time by replying STOP. Best regards, the rewards team"}'
