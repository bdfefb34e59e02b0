# Is "1.5x the base variant's own fp16 error" reachable for the peft-lora fixture? (issue #15)
# Runs stories260K in PyTorch in fp32 and fp16, base and with peft-lora merged, with a Llama forward
# written here (checked against the fixture's fp32 merged logits), and prints each fp16 error.
# Usage: python packages/transformers/bench/fp16-yardstick.py  (needs torch and safetensors; reads ../shared)
import json, torch
from safetensors.torch import load_file
import os
R=os.path.join(os.environ.get('TSD_FIXTURES', os.path.join(os.path.dirname(__file__), '../../../../shared')), 'reference/')
cfg=json.load(open(R+'hf/stories260K/config.json'))
W=load_file(R+'hf/stories260K/model.safetensors')
A=load_file(R+'peft-lora/adapter_model.safetensors')
ac=json.load(open(R+'peft-lora/adapter_config.json')); s=ac['lora_alpha']/ac['r']
ids=json.load(open(R+'inputs.json'))['input2']['ids']
ref=load_file(R+'peft-lora/logits.safetensors')
print('ref keys', list(ref.keys()))
def merged(W):
    M=dict(W)
    for k in W:
        if not k.endswith('.weight'): continue
        base=k[:-len('.weight')]
        a=A.get('base_model.model.'+base+'.lora_A.weight')
        if a is None: continue
        b=A['base_model.model.'+base+'.lora_B.weight']
        M[k]=W[k]+s*(b@a)
    return M
H=cfg['hidden_size']; nh=cfg['num_attention_heads']; nkv=cfg['num_key_value_heads']; hd=cfg['head_dim']; L=cfg['num_hidden_layers']; eps=cfg['rms_norm_eps']
def rms(x,w): 
    xf=x.float(); return (xf*torch.rsqrt(xf.pow(2).mean(-1,keepdim=True)+eps)).to(x.dtype)*w
def rope(x,pos):
    inv=1.0/(cfg['rope_theta']**(torch.arange(0,hd,2).float()/hd)); f=torch.outer(pos.float(),inv); emb=torch.cat([f,f],-1)
    c,sn=emb.cos().to(x.dtype),emb.sin().to(x.dtype); x1,x2=x[...,:hd//2],x[...,hd//2:]
    return x*c+torch.cat([-x2,x1],-1)*sn
def forward(W,dt):
    g=lambda k: W[k].to(dt)
    T=len(ids); x=g('model.embed_tokens.weight')[torch.tensor(ids)]; pos=torch.arange(T)
    mask=torch.full((T,T),float('-inf')).triu(1)
    for l in range(L):
        p=f'model.layers.{l}.'
        h=rms(x,g(p+'input_layernorm.weight'))
        q=(h@g(p+'self_attn.q_proj.weight').T).view(T,nh,hd).transpose(0,1)
        k=(h@g(p+'self_attn.k_proj.weight').T).view(T,nkv,hd).transpose(0,1)
        v=(h@g(p+'self_attn.v_proj.weight').T).view(T,nkv,hd).transpose(0,1)
        q,k=rope(q,pos),rope(k,pos); rep=nh//nkv; k=k.repeat_interleave(rep,0); v=v.repeat_interleave(rep,0)
        att=((q@k.transpose(-1,-2)).float()/hd**0.5+mask).softmax(-1).to(dt)
        o=(att@v).transpose(0,1).reshape(T,nh*hd)
        x=x+o@g(p+'self_attn.o_proj.weight').T
        h=rms(x,g(p+'post_attention_layernorm.weight'))
        m=torch.nn.functional.silu(h@g(p+'mlp.gate_proj.weight').T)*(h@g(p+'mlp.up_proj.weight').T)
        x=x+m@g(p+'mlp.down_proj.weight').T
    x=rms(x,g('model.norm.weight'))
    head=g('lm_head.weight') if 'lm_head.weight' in W else g('model.embed_tokens.weight')
    return (x@head.T).float()
M=merged(W)
b32,b16=forward(W,torch.float32),forward(W,torch.float16)
m32,m16=forward(M,torch.float32),forward(M,torch.float16)
for k,v in ref.items():
    if 'input2' in k: 
        v=v.reshape(-1,v.shape[-1]); print(k,'vs own fp32 base',(v-b32).abs().max().item(),'vs own fp32 merged',(v-m32).abs().max().item())
agree=lambda a,b:(a.argmax(-1)==b.argmax(-1)).float().mean().item()
print(f'base: fp16 vs fp32 max {(b16-b32).abs().max().item():.4f} argmax agree {agree(b16,b32):.3f}')
print(f'merged: fp16 vs fp32 max {(m16-m32).abs().max().item():.4f} argmax agree {agree(m16,m32):.3f}')
